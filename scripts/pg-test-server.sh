#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL server for the tests on a loopback port.
# Debian's server refuses to run as root, so as root it runs as the postgres user.
#   scripts/pg-test-server.sh start   -> prints the connection URL
#   scripts/pg-test-server.sh stop
set -euo pipefail
PORT=${ROTA_TEST_PG_PORT:-54329}
DATA=${ROTA_TEST_PG_DATA:-/var/tmp/rota-pgdata-$PORT}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] || { echo "pg-test-server: PostgreSQL is not installed (scripts/setup-system.sh installs it)" >&2; exit 1; }
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-start}" in
  start)
    if [ ! -f "$DATA/PG_VERSION" ]; then
      rm -rf "$DATA"; mkdir -p "$DATA"
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DATA"
      as_pg "$PGBIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
    fi
    if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      # fsync off: test data is throwaway, and it makes the suite faster
      as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null
    fi
    echo "postgres://postgres@127.0.0.1:$PORT/postgres"
    ;;
  stop)
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
