#!/usr/bin/env bash
# Set up the environment if needed, then run the test suite (CPU, a few minutes).
# Arguments go to pytest, e.g. scripts/test.sh -n 2 to run it in two processes (pytest-xdist).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup_env.sh
python -m pytest -q "$@"
