"""``premask`` over a run whose final and Pre-Mask maps are all there reads them, predicting
nothing: it says so, naming the prediction options given (--device, --batch-size) that
therefore had no effect (a --checkpoint must have made the maps:
test_premask_checkpoint_record); they used to pass without a word (CPU, hand-made run; helpers
from test_analysis)."""

from __future__ import annotations

import pytest
from test_analysis import DEMO, _fake_run

from pmgsam.analysis.__main__ import main
from pmgsam.engine import inference


@pytest.mark.parametrize(
    "options, named",
    [
        (["--device", "cpu", "--batch-size", "4"], "so --device, --batch-size had no effect"),
        (["--batch-size", "2"], "so --batch-size had no effect"),
    ],
)
def test_read_maps_say_the_prediction_options_had_no_effect(
    tmp_path, dis5k_root, capsys, monkeypatch, options, named
) -> None:
    monkeypatch.setattr(inference, "predict_split", lambda *a, **k: pytest.fail("predicted"))
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set())
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    argv = ["premask", "--run", str(run), "--config", str(DEMO), "--split", "DIS-TE1", "--quiet"]
    assert main([*argv, *options, *data]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "none predicted" in line]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"read the final and Pre-Mask maps of DIS-TE1 in '{run}'")
    assert named in lines[0]


def test_read_maps_name_no_option_left_at_its_default(tmp_path, dis5k_root, capsys) -> None:
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set())
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    argv = ["premask", "--run", str(run), "--config", str(DEMO), "--split", "DIS-TE1", "--quiet"]
    assert main([*argv, "--device", "auto", "--batch-size", "1", *data]) == 0
    out = capsys.readouterr().out
    assert "none predicted; --predict predicts them again" in out and "no effect" not in out


def test_device_sets_clipseg_so_it_is_not_named_with_clipseg() -> None:
    from argparse import Namespace
    from pathlib import Path

    from pmgsam.analysis.premask_command import _read_not_predicted

    args = Namespace(split="DIS-TE1", checkpoint=None, device="cpu", batch_size=2, clipseg="m")
    line = _read_not_predicted(args, Path("run"))
    assert "so --batch-size had no effect" in line and "--device" not in line
