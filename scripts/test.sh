#!/usr/bin/env bash
# `npm test`: type-check, lint, build the dashboard, then the suites: the orchestrator's (which test
# what the database does) on PGlite and on a real PostgreSQL server that this script starts; the
# pipeline, dashboard and Docker suites (which test their own parts, through a server on the default
# embedded database) once, on PGlite; and the deploy test once. Installs what it needs (Debian's
# PostgreSQL and Chromium; dbt's virtualenv is made by the tests on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/setup-system.sh
bash scripts/dbt-setup.sh

echo "== type-check"; npx tsc --noEmit
echo "== lint"; npx eslint .
echo "== build dashboard"; npm run --silent build:ui

PG_URL=$(bash scripts/pg-test-server.sh start)
trap 'bash scripts/pg-test-server.sh stop' EXIT

shopt -s nullglob
both=(test/orchestrator/*.test.ts)
once=(test/brt/*.test.ts test/ui/*.test.ts test/docker/*.test.ts)
if [ -n "${ROTA_TEST_FILES:-}" ]; then read -r -a both <<< "$ROTA_TEST_FILES"; once=(); fi
for db in ${ROTA_TEST_DBS:-pglite postgres}; do
  files=("${both[@]}")
  [ "$db" = pglite ] && files+=("${once[@]}")
  echo "== tests on $db (${#files[@]} files)"
  ROTA_TEST_DB=$db ROTA_TEST_PG_URL=$PG_URL node --import tsx --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
done

# The reference setup (image built, docker-compose.yml up on a container engine, runs in containers):
# once, not once per database, since the stack brings its own PostgreSQL. Skipped, with a message,
# when there is no engine and no way to start one; not run when ROTA_TEST_FILES picks files.
if [ -z "${ROTA_TEST_FILES:-}" ]; then
  echo "== deploy test (docker compose)"
  npm run --silent test:deploy
fi
