"""The benchmark's flows for Prefect: the same work as rota_flows.ts."""
import time

from prefect import flow, task


@task
def light() -> None:
    # ~10 ms of work (the format of Windmill's published benchmark: 40 light sequential tasks)
    end = time.perf_counter() + 0.010
    while time.perf_counter() < end:
        pass


@flow(name="light-40")
def light40() -> None:
    for _ in range(40):
        light()


@flow(name="light-1")
def light1() -> None:
    light()


@flow(name="tick")
def tick() -> None:
    light()
