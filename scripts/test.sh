#!/usr/bin/env bash
# Set up the environment if needed, then run the test suite (CPU, a few minutes).
# Arguments go to pytest (e.g. scripts/test.sh -k model). The suite runs in parallel
# (pytest-xdist, one torch thread per process, each test file on one process so its shared
# models are built once) on as many processes as the CPUs this process may use, at most 4
# (each holds ~3 GB); PMGSAM_TEST_WORKERS=N sets the count, 1 runs it serially.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup_env.sh
# Bytecode caches may be written (to the git-ignored __pycache__/ folders) even where the
# environment says not to: otherwise every test process compiles the package again, and
# pytest rewrites the ~600 test files anew in each of its worker processes.
unset PYTHONDONTWRITEBYTECODE
workers="${PMGSAM_TEST_WORKERS:-$(python -c 'from pmgsam.utils.cpus import available_cpus; print(min(available_cpus(), 4))')}"
if ! [[ "$workers" =~ ^[0-9]+$ ]]; then
  echo "PMGSAM_TEST_WORKERS must be a whole number of processes, got '$workers'" >&2
  exit 2
fi
parallel=()
if [ "$workers" -gt 1 ]; then
  parallel=(-n "$workers" --dist loadfile)
fi
python -m pytest -q "${parallel[@]}" "$@"
