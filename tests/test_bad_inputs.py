"""The bad-input corpus script builds its corpus and judges CLI answers (two cases run here)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("bad_inputs", REPO / "scripts/bad_inputs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_corpus_cases_pass_end_to_end(tmp_path: Path, small_branches) -> None:
    # The corpus is built with a small Hiera (small_branches): its two Hiera files were 107 MB each.
    # The inference case run here is refused before any checkpoint is read.
    script = load_script()
    cases = {c.name: c for c in script.build_corpus(tmp_path / "corpus")}
    tools = {c.tool for c in cases.values()}
    assert tools == {"inference", "train", "evaluate", "report", "synthetic", "efficiency",
                     "baselines", "ablate", "analysis"}  # fmt: skip
    assert set(script.TOOLS) == tools  # what --only accepts
    # A real `python -m` process each: exit 2, one error line, no traceback, inputs unchanged.
    # out-symlink-loop: a case of scripts/bad_inputs_more.py, which the script imports.
    for name in ("out-is-input", "synthetic-num-0", "ablate-bad-grid", "overlap-not-coco",
                 "out-symlink-loop"):  # fmt: skip
        passed, code, line = script.run_case(cases[name])
        assert passed and code == 2, line
        if name == "overlap-not-coco":  # an analysis error names its subcommand, as argparse's
            assert line.startswith("python -m pmgsam.analysis overlap: error: "), line
    # The judge itself fails a command that exits 0 or prints a traceback.
    ok = script.Case("ok", "x", ["-c", "pass"], "exits 0")
    crash = script.Case("crash", "x", ["-c", "raise ValueError('boom')"], "traceback")
    assert not script.run_case(ok)[0] and "exit status 0" in script.run_case(ok)[2]
    assert "traceback" in script.run_case(crash)[2]


def test_corpus_is_only_built_over_its_own_folder(tmp_path: Path) -> None:
    script = load_script()
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(SystemExit, match="holds no corpus"):
        script.build_corpus(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "user data"


def test_only_refuses_a_tool_no_case_runs_before_building_anything(tmp_path: Path, capsys) -> None:
    # A misspelt tool used to select no case and report "0/0 cases answered ..." with exit 0.
    script = load_script()
    corpus = tmp_path / "corpus"
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--dir", str(corpus), "--only", "inference,inferense,trian"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert ": error: --only: no such tool 'inferense', 'trian' (of: ablate, analysis, " in error
    assert not corpus.exists()


@pytest.mark.parametrize("option", ["--dir", "--only"])
def test_empty_dir_or_only_is_refused_before_building_anything(
    tmp_path: Path, monkeypatch, capsys, option
) -> None:
    # '' used to be read as '.' (--dir: the corpus rebuilt in the current folder) or as every
    # tool (--only), as a shell passes an unset variable.
    script = load_script()
    monkeypatch.setattr(script, "build_corpus", lambda root: pytest.fail(f"built in '{root}'"))
    monkeypatch.chdir(tmp_path)
    argv = {"--dir": str(tmp_path / "corpus"), "--only": "synthetic", option: ""}
    with pytest.raises(SystemExit) as exit_info:
        script.main([arg for pair in argv.items() for arg in pair])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f": error: {option} is empty: give " in error and f"leave {option} out" in error
    assert list(tmp_path.iterdir()) == []


BUILD_IN = """
import sys
from pathlib import Path

from small_branches import SMALL_HIERA
from pmgsam.modeling import image_encoder
from test_bad_inputs import load_script

image_encoder.HIERA_SPECS["tiny"] = SMALL_HIERA
load_script().build_corpus(Path(sys.argv[1]))
"""


@pytest.mark.skipif(
    sys.platform == "win32" or sys.getfilesystemencoding().lower() != "utf-8",
    reason="names that are not UTF-8 exist on POSIX file systems read as UTF-8",
)
def test_the_corpus_builds_in_a_folder_whose_name_is_not_utf8(tmp_path: Path) -> None:
    # --dir is the user's: cv2.imwrite given such a path killed the process (segfault), so
    # the build runs in a subprocess.
    root = tmp_path / os.fsdecode(b"caf\xe9") / "corpus"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    proc = subprocess.run(
        [sys.executable, "-c", BUILD_IN, str(root)], env=env, capture_output=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    # The images the script writes itself, each a PNG of the size it was given.
    sizes = {"images/img0.png": (40, 50, 3), "gt/img1.png": (40, 50),
             "turned_maps/img0.png": (50, 40), "exif_data/masks/phone.png": (60, 40),
             "exif_data/images/plain1.png": (40, 60, 3)}  # fmt: skip
    for rel, shape in sizes.items():
        decoded = cv2.imdecode(np.fromfile(root / rel, np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded is not None and decoded.shape == shape, rel
    # A split's masks read and written over as empty masks of the same size.
    emptied = sorted((root / "bad_data" / "DIS5K" / "DIS-TE2" / "gt").iterdir())
    assert emptied
    for mask in emptied:
        source = root / "data" / "DIS5K" / "DIS-TE2" / "gt" / mask.name
        decoded, kept = (
            cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_UNCHANGED) for p in (mask, source)
        )
        assert kept.any() and decoded.shape == kept.shape and not decoded.any(), mask
