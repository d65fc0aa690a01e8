#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install pmgsam into it.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run repeatedly.
#   PMGSAM_VENV         where the venv lives            (default: .venv in the repo)
#   PMGSAM_TORCH_SPEC   how torch is installed first    (default: the versions this
#                       project is tested with; set e.g. "torch torchvision" to let pip choose;
#                       later installs are pinned to the torch it installed)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PMGSAM_VENV:-$repo/.venv}"
torch_spec="${PMGSAM_TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
python_bin="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtual environment in $venv"
  "$python_bin" -m venv "$venv"
fi
py="$venv/bin/python"
# Re-install only when the dependency declaration changed since the last install.
stamp="$venv/.pmgsam-installed"
want="$(cat "$repo/setup.cfg" "$repo/pyproject.toml" | sha256sum | cut -d' ' -f1) $torch_spec"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing $torch_spec (first run can take several minutes)"
  "$py" -m pip install --quiet --disable-pip-version-check --upgrade pip
  # shellcheck disable=SC2086
  "$py" -m pip install --quiet --disable-pip-version-check $torch_spec
  # Every later install keeps the torch just installed: unpinned, a dependency that asks for a
  # newer torch (sam2 asks for >= 2.5.1) would silently replace the one torch_spec chose.
  pins="$venv/.pmgsam-torch-pins.txt"
  "$py" - >"$pins" <<'EOF'
from importlib.metadata import PackageNotFoundError, version

for name in ("torch", "torchvision"):
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        pass
EOF
  echo "[setup] installing pmgsam and its dependencies"
  "$py" -m pip install --quiet --disable-pip-version-check -c "$pins" -e "$repo[dev]"
  # The optional SAM2 baselines (the [sam2] extra), tested in CI. sam2 compiles against the
  # torch installed above, so no build isolation; its CUDA extension is optional and skipped.
  torch_version="$("$py" -c 'from importlib.metadata import version; print(version("torch"))')"
  if "$py" - "$torch_version" <<'EOF'; then
import re
import sys

# sam2 1.1 declares torch >= 2.5.1; an unparsable version is taken as new enough.
found = re.match(r"(\d+)\.(\d+)\.(\d+)", sys.argv[1])
sys.exit(1 if found and tuple(map(int, found.groups())) < (2, 5, 1) else 0)
EOF
    echo "[setup] installing sam2 (SAM2.1 baselines)"
    "$py" -m pip install --quiet --disable-pip-version-check setuptools wheel
    SAM2_BUILD_CUDA=0 "$py" -m pip install --quiet --disable-pip-version-check \
      --no-build-isolation -c "$pins" "sam2>=1.1"
  else
    echo "[setup] torch $torch_version is older than sam2's minimum (2.5.1): the optional" \
      "SAM2.1 baselines are not installed and their tests skip"
  fi
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
