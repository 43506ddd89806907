#!/usr/bin/env bash
# Creates .venv and installs SKU Studio. Usage: scripts/setup.sh [core|full]
#   core: what the main job needs (CPU studio backend; no torch)
#   full: + the GPU path (torch, diffusers) and the test tools
# torch: pinned to 2.13.0. On a CPU-only machine pip takes the CPU build; for CUDA, install the CUDA build of
# torch 2.13.0 first (see README), and pip keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-core}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$what" = "full" ]; then
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[gpu,test]"
else
  .venv/bin/python -m pip install -q -e .
fi
