#!/usr/bin/env bash
# Installs what the tests need beyond npm: Debian's PostgreSQL server and Chromium (for the browser
# tests; never a downloaded browser). Idempotent: does nothing when both are present.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v python3 >/dev/null || need+=(python3 python3-venv)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: missing ${need[*]}; install them (sudo apt-get install -y ${need[*]}) and run again" >&2
  exit 1
fi
echo "setup-system: installing ${need[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
