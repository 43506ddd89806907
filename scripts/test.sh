#!/usr/bin/env bash
# Sets up the full environment and runs the whole test suite (what CI runs).
# Tests start real servers on loopback in temp folders: Debian's Chromium (/usr/bin/chromium) for the browser
# tests, PostgreSQL 15 (/usr/lib/postgresql/15/bin, run as `nobody` by tests/helpers/postgres.py) for the review
# queue and the production instance, redis-server as Celery's broker for the fleet e2e test. As root this script
# installs the missing ones with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh full
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing ${missing[*]} (apt-get install ${missing[*]}); the tests that need them will fail" >&2
  fi
fi
export PYTHONUNBUFFERED=1
# --durations: the slowest tests in every CI log, to keep the suite well inside its time.
exec .venv/bin/python -m pytest -n "${SKUSTUDIO_TEST_WORKERS:-2}" --dist loadfile --durations=30 "$@"
