#!/usr/bin/env bash
# Sets up the full environment and runs the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh full
export PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest -n "${SKUSTUDIO_TEST_WORKERS:-2}" --dist loadfile "$@"
