#!/usr/bin/env bash
# `npm run bench`: the orchestrator and throughput benchmarks against a real PostgreSQL that this
# script starts (and PGlite). `npm run bench -- throughput` (or `orchestrator`) runs one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/setup-system.sh
ROTA_BENCH_PG_URL=$(ROTA_TEST_PG_PORT=54339 bash scripts/pg-test-server.sh start)
export ROTA_BENCH_PG_URL
trap 'ROTA_TEST_PG_PORT=54339 bash scripts/pg-test-server.sh stop' EXIT
case "${1:-all}" in
  orchestrator) node --import tsx bench/orchestrator.ts ;;
  throughput) node --import tsx bench/throughput.ts ;;
  *)
    node --import tsx bench/orchestrator.ts
    node --import tsx bench/throughput.ts
    ;;
esac
