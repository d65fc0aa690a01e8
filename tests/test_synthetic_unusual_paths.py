"""The generator writes under folders whose names are not UTF-8, and its files are byte for byte
what cv2.imwrite writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pmgsam.data.synthetic_files import write_jpg, write_png

REPO = Path(__file__).resolve().parents[1]


def test_written_files_are_the_bytes_cv2_imwrite_writes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 40, 3), np.uint8)
    gray = rng.integers(0, 256, (30, 40), np.uint8)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(tmp_path / "ref.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(tmp_path / "ref_rgb.png"), bgr)
    cv2.imwrite(str(tmp_path / "ref_gray.png"), gray)
    write_jpg(tmp_path / "sub" / "ours.jpg", rgb)
    write_png(tmp_path / "sub" / "ours_rgb.png", rgb)
    write_png(tmp_path / "sub" / "ours_gray.png", gray)
    for ref, ours in [("ref.jpg", "ours.jpg"), ("ref_rgb.png", "ours_rgb.png")]:
        assert (tmp_path / "sub" / ours).read_bytes() == (tmp_path / ref).read_bytes(), ours
    assert (tmp_path / "sub/ours_gray.png").read_bytes() == (tmp_path / "ref_gray.png").read_bytes()


@pytest.mark.skipif(
    sys.platform == "win32" or sys.getfilesystemencoding().lower() != "utf-8",
    reason="names that are not UTF-8 exist on POSIX file systems read as UTF-8",
)
@pytest.mark.parametrize("layout", ["dis5k", "cod10k"])
def test_an_output_folder_whose_name_is_not_utf8(tmp_path: Path, layout: str) -> None:
    out = tmp_path / os.fsdecode(b"caf\xe9")
    # In a subprocess: cv2.imwrite given such a path used to kill the process (segfault).
    env = dict(os.environ, PYTHONPATH=str(REPO))
    args = ["--layout", layout, "--out", str(out), "--num", "2", "--size", "32x24", "--quiet"]
    proc = subprocess.run(
        [sys.executable, "-m", "pmgsam.data.synthetic", *args],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    images = sorted(p for p in out.rglob("*") if p.suffix in {".jpg", ".png"})
    assert images
    for image in images:
        decoded = cv2.imdecode(np.fromfile(image, np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded is not None and decoded.size > 0, image
