"""Creates the process work pool and the benchmark's deployments; prints their ids as JSON.

`python prefect_setup.py flows` deploys light-40 and light-1 (no schedule);
`python prefect_setup.py tick` deploys `tick` every 10 seconds.
Runs against PREFECT_API_URL. Code is pulled from this folder (a process pool runs it in place).
"""
import asyncio
import json
import pathlib
import sys

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists

HERE = pathlib.Path(__file__).resolve().parent
POOL = "bench"


async def ensure_pool() -> None:
    async with get_client() as client:
        try:
            await client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        except ObjectAlreadyExists:
            pass


def deploy(entrypoint: str, name: str, **kwargs) -> str:
    loaded = flow.from_source(source=str(HERE), entrypoint=f"prefect_flows.py:{entrypoint}")
    return str(loaded.deploy(name=name, work_pool_name=POOL, print_next_steps=False, **kwargs))


def main() -> None:
    asyncio.run(ensure_pool())
    if sys.argv[1:] == ["flows"]:
        out = {"light-40": deploy("light40", "light-40"), "light-1": deploy("light1", "light-1")}
    elif sys.argv[1:] == ["tick"]:
        out = {"tick": deploy("tick", "tick", interval=10)}
    else:
        raise SystemExit("usage: prefect_setup.py flows|tick")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
