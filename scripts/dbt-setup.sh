#!/usr/bin/env bash
# Warm-up for CI and fresh machines: create the Python virtualenvs the pipeline and the tests use
# need them (each is created once per machine and reused; a change of pins makes a new one).
#   .venv-dbt-<hash>     dbt-core + dbt-duckdb + duckdb   (pipelines/brt/dbt/requirements.txt)
#   .venv-dbt-bq-<hash>  + dbt-bigquery                   (pipelines/brt/dbt/requirements-bigquery.txt; offline compile test)
#   .venv-gcs-<version>  gcp-storage-emulator             (GCS tests)
#   .venv-prom-<version> prometheus-client (its parser)   (/metrics tests)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "python3 is required (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
node bin/rota.js brt setup
node bin/rota.js brt setup --bigquery
node --import tsx -e "import('./test/brt/helpers/gcs-emulator.ts').then((m) => m.ensureGcsEmulator()).then((bin) => console.log('gcs emulator ready: ' + bin))"
node --import tsx -e "import('./test/helpers/prometheus.ts').then((m) => m.preparePrometheusParser()).then(() => console.log('prometheus text parser ready'))"
