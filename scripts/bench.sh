#!/usr/bin/env bash
# `npm run bench`: the orchestrator benchmark against a real PostgreSQL that this script starts.
# `bash scripts/bench.sh NAME [args]` runs bench/NAME.ts instead (npm run bench:soak, bench:year).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/setup-system.sh
ROTA_BENCH_PG_URL=$(ROTA_TEST_PG_PORT=54339 bash scripts/pg-test-server.sh start)
export ROTA_BENCH_PG_URL
trap 'ROTA_TEST_PG_PORT=54339 bash scripts/pg-test-server.sh stop' EXIT
node --import tsx "bench/${1:-orchestrator}.ts" "${@:2}"
