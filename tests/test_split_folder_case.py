"""One --output-dir for COD10K (pred/Test) and NC4K (pred/test) is refused where the filesystem
makes the two one folder (macOS, Windows), before anything is predicted
(pmgsam.evaluation.split_folders). Linux tells them apart: a link pred/test -> pred/Test stands
in for the case-insensitive filesystem here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_cases import evaluate_main

from pmgsam.data import build_dataset
from pmgsam.engine.resume_plan import map_sources
from pmgsam.utils.outputs import OutputError, prepare_output_dir


def _maps_of(folder: Path, dataset: Any) -> None:
    """``folder`` as a prediction run leaves it: one map per image, recorded in its manifest."""
    sources = map_sources(dict(zip(dataset.names, dataset.image_paths)))
    prepare_output_dir(folder, list(sources), sources=sources, tool="inference")
    for name in sources:
        (folder / name).write_bytes(b"png")


@pytest.mark.parametrize("mode", [[], ["--baseline", "sam-box", "--speed-iters", "0"]])
def test_nc4k_into_the_folder_of_cod10k_maps_is_refused_on_a_case_insensitive_filesystem(
    cod10k_root: Path, nc4k_root: Path, data_config, tmp_path: Path, mode: list
) -> None:
    run = tmp_path / "run"
    cod10k_test = build_dataset(data_config("cod10k", cod10k_root), "Test", 64, train=False)
    _maps_of(run / "pred" / "Test", cod10k_test)
    (run / "pred" / "test").symlink_to("Test", target_is_directory=True)  # one folder, two names
    data = {"dataset": "nc4k", "root": str(nc4k_root), "train_split": "train", "val_split": None}
    data.update(test_splits=["test"], split_dir=str(tmp_path / "splits"), num_workers=0)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": data, "train": {"device": "cpu"}}))
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"not read")  # refused before the model loads
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet",
            "--output-dir", run, *mode]  # fmt: skip
    # Before, NC4K's maps joined COD10K's and metrics/test.json replaced metrics/Test.json.
    with pytest.raises(OutputError, match=r"nc4k's split 'test' would be predicted into pred/test"):
        evaluate_main(argv)
    assert sorted(p.name for p in (run / "pred").iterdir()) == ["Test", "test"]
    assert len(list((run / "pred" / "Test").glob("*.png"))) == len(cod10k_test)
    assert not (run / "metrics").exists()


def test_case_twins_of_the_same_images_or_separate_folders_pass(
    cod10k_root: Path, nc4k_root: Path, data_config, tmp_path: Path
) -> None:
    from pmgsam.evaluation.split_folders import refuse_case_clashes

    nc4k_test = build_dataset(data_config("nc4k", nc4k_root), "test", 64, train=False)
    # NC4K's own maps under another case of its name (a resumed run): nothing to lose.
    _maps_of(tmp_path / "same" / "pred" / "TEST", nc4k_test)
    (tmp_path / "same" / "pred" / "test").symlink_to("TEST", target_is_directory=True)
    refuse_case_clashes(tmp_path / "same", {"test": nc4k_test}, "nc4k")
    # Two real folders (Linux): another dataset's pred/Test, maps and manifest, is no clash.
    cod10k_test = build_dataset(data_config("cod10k", cod10k_root), "Test", 64, train=False)
    _maps_of(tmp_path / "separate" / "pred" / "Test", cod10k_test)
    (tmp_path / "separate" / "pred" / "test").mkdir()
    refuse_case_clashes(tmp_path / "separate", {"test": nc4k_test}, "nc4k")


def test_a_twin_of_box_prompted_maps_of_another_dataset_is_refused(
    cod10k_root: Path, nc4k_root: Path, data_config, tmp_path: Path
) -> None:
    from pmgsam.baselines.resume import baseline_sources
    from pmgsam.evaluation.split_folders import refuse_case_clashes

    # A box baseline's manifest records [image identity, GT identity, ...] per map.
    cod10k_test = build_dataset(data_config("cod10k", cod10k_root), "Test", 64, train=False)
    sources = baseline_sources(cod10k_test, len(cod10k_test), reads_gt=True)
    assert all(isinstance(identity[0], list) for identity in sources.values())
    folder = tmp_path / "run" / "pred" / "Test"
    prepare_output_dir(folder, list(sources), sources=sources, tool="baseline")
    (tmp_path / "run" / "pred" / "test").symlink_to("Test", target_is_directory=True)
    nc4k_test = build_dataset(data_config("nc4k", nc4k_root), "test", 64, train=False)
    first = str(cod10k_test.image_paths[0])
    with pytest.raises(OutputError, match=rf"another dataset's images \(e.g. '{first}'\)"):
        refuse_case_clashes(tmp_path / "run", {"test": nc4k_test}, "nc4k")
