#!/usr/bin/env bash
# Sets up the full environment and runs the whole test suite (what CI runs).
# The browser test drives Debian's Chromium (/usr/bin/chromium); as root this script installs it (and redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh full
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium is missing (apt-get install chromium); the browser test will fail" >&2
  fi
fi
# The multi-host end-to-end test (tests/e2e/test_fleet.py) runs Debian's redis-server as Celery's broker.
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "warning: redis-server is missing (apt-get install redis-server); the fleet e2e test will fail" >&2
  fi
fi
export PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest -n "${SKUSTUDIO_TEST_WORKERS:-2}" --dist loadfile "$@"
