#!/usr/bin/env bash
# Sets up the full environment and runs the whole test suite (what CI runs).
# The browser tests drive Debian's Chromium (/usr/bin/chromium); the review queue's tests run a real PostgreSQL 15
# (/usr/lib/postgresql/15/bin, started by tests/helpers/postgres.py as `nobody` in a temp folder). As root this
# script installs both.
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
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  else
    echo "warning: PostgreSQL 15 is missing (apt-get install postgresql-15); the PostgreSQL tests will fail" >&2
  fi
fi
export PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest -n "${SKUSTUDIO_TEST_WORKERS:-2}" --dist loadfile "$@"
