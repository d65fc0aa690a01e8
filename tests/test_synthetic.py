"""Generated datasets (pmgsam.data.synthetic): deterministic per seed, reused, never overwritten
by accident; the command line."""

from __future__ import annotations

import hashlib
import json

import pytest

from pmgsam.data import DataError, generate
from pmgsam.data.synthetic import load_manifest, main


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_synthetic_is_deterministic_and_guarded(tmp_path, capsys):
    a = generate("cod10k", tmp_path / "a", num=3, seed=5, size=(64, 48))
    b = generate("cod10k", tmp_path / "b", num=3, seed=5, size=(64, 48))
    c = generate("cod10k", tmp_path / "c", num=3, seed=6, size=(64, 48))
    assert _digest(a) == _digest(b) != _digest(c)
    counts = load_manifest(a)["splits"]["Train"]
    assert len(counts) == 3 and all(1 <= n <= 3 for n in counts.values())
    assert generate("cod10k", tmp_path / "a", num=3, seed=5, size=(64, 48)) == a  # reused
    with pytest.raises(DataError, match="other parameters; pass overwrite=True$"):
        generate("cod10k", tmp_path / "a", num=4, seed=5, size=(64, 48))
    main(["--layout", "dis5k", "--out", str(tmp_path / "cli"), "--num", "4", "--no-progress"])
    assert "DIS-TR: 4" in capsys.readouterr().out
    assert len(list((tmp_path / "cli" / "DIS5K" / "DIS-TE3" / "gt").glob("*.png"))) == 2


def test_the_cod10k_summary_counts_every_image_of_a_split(tmp_path, capsys):
    # It counted the CAM images only: a Test/Image folder of 3 files was reported as 2.
    main(["--layout", "cod10k", "--out", str(tmp_path), "--num", "2", "--size", "32x24",
          "--no-progress"])  # fmt: skip
    line = capsys.readouterr().out.strip()
    assert line.endswith("(Train: 2 CAM + 1 NonCAM, Test: 2 CAM + 1 NonCAM)"), line
    for split in ("Train", "Test"):
        names = [p.name for p in (tmp_path / "COD10K-v3" / split / "Image").iterdir()]
        assert len(names) == 3 and sum("-NonCAM-" in n for n in names) == 1


def test_a_tree_of_the_earlier_generator_is_summed_up_from_its_parameters(tmp_path, capsys):
    # Its manifest names no files (nor "complete"): a rerun with the same parameters keeps the
    # tree and still counts the NonCAM images (it raised KeyError: 'files').
    argv = ["--layout", "cod10k", "--out", str(tmp_path), "--num", "2", "--size", "32x24",
            "--no-progress"]  # fmt: skip
    main(argv)
    capsys.readouterr()
    path = tmp_path / "COD10K-v3" / "synthetic_manifest.json"
    old = json.loads(path.read_text())
    path.write_text(json.dumps({"params": old["params"], "splits": old["splits"]}))
    main(argv)
    line = capsys.readouterr().out.strip()
    assert line.endswith("(Train: 2 CAM + 1 NonCAM, Test: 2 CAM + 1 NonCAM)"), line


def test_bad_sizes_and_parameters_are_named_and_write_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--layout", "dis5k", "--out", str(tmp_path), "--size", "32by24"])
    assert "argument --size: size must look like 320x240 (WxH), got '32by24'" in (
        capsys.readouterr().err
    )
    for kwargs, words in [
        ({"layout": "coco"}, r"^layout must be one of \['cod10k', 'dis5k', 'nc4k'\], got 'coco'$"),
        ({"num": 1}, r"^num must be in \[2, 100000\], got 1$"),
        ({"seed": -1}, r"^seed must be non-negative \(numpy's rule\), got -1$"),
    ]:
        with pytest.raises(ValueError, match=words):
            generate(**{"layout": "dis5k", "out": tmp_path, **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_the_progress_bar_counts_every_image(tmp_path, capsys):
    generate("nc4k", tmp_path, num=3, size=(32, 24), progress=True)
    err = capsys.readouterr().err
    assert "synthetic nc4k" in err and "3/3" in err, err
