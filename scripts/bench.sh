#!/usr/bin/env bash
# `npm run bench`: the orchestrator and throughput benchmarks against a real PostgreSQL that this
# script starts (and PGlite). `bash scripts/bench.sh NAME [args]` runs bench/NAME.ts alone
# (`npm run bench -- throughput`, npm run bench:soak, bench:year).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/setup-system.sh
ROTA_BENCH_PG_URL=$(ROTA_TEST_PG_PORT=54339 bash scripts/pg-test-server.sh start)
export ROTA_BENCH_PG_URL
trap 'ROTA_TEST_PG_PORT=54339 bash scripts/pg-test-server.sh stop' EXIT
if [ $# -eq 0 ]; then
  node --import tsx bench/orchestrator.ts
  node --import tsx bench/throughput.ts
else
  node --import tsx "bench/$1.ts" "${@:2}"
fi
