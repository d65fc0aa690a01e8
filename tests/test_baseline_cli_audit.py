"""Mutation audit of ``evaluate.py --baseline``'s options and checks
(:mod:`pmgsam.baselines.cli`) and the E-SAM defaults (:mod:`pmgsam.baselines.settings`): what no
other test pinned down. The checks run on the parsed options; nothing is predicted."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any, List

import pytest

import evaluate
from pmgsam.baselines import cli
from pmgsam.baselines.settings import EsamSettings, finetune_limit
from pmgsam.utils.cli import exit_status

DEMO = str(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
BENCH = ["--config", DEMO, "--checkpoint", "c.pth", "--dataset", "dis5k"]


def refused(argv: List[Any], capsys) -> str:
    """Exit status 2 with one error line, no traceback; returns the line."""
    assert exit_status(evaluate.main, argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    return lines[0]


def checked(argv: List[str]) -> None:
    """The baseline checks of ``argv`` (``--splits`` given, as evaluate.py fills it)."""
    parser = evaluate.build_parser()
    cli.check_arguments(parser, parser.parse_args(argv))


@pytest.mark.parametrize("option", ["--esam-slic-segments", "--esam-slic-max-side"])
def test_a_slic_setting_of_zero_is_refused(tmp_path: Path, monkeypatch, capsys, option) -> None:
    # No superpixel, or a 0-px image to cut into them: 0 means nothing useful there.
    monkeypatch.chdir(tmp_path)
    line = refused(["--baseline", "esam", *BENCH, "--splits", "DIS-TE1", option, "0"], capsys)
    assert option in line and "at least 1" in line


def test_the_timing_defaults_are_readmes() -> None:
    # README: "median of --speed-iters after --speed-warmup, defaults 10 and 3".
    args = evaluate.build_parser().parse_args(["--baseline", "sam-box"])
    assert (args.speed_iters, args.speed_warmup) == (10, 3)


@pytest.mark.parametrize("splits", ["DIS-TE1+DIS-TE2", "DIS-VD,DIS-TE3+DIS-TE4"])
def test_a_joined_set_is_refused_as_dis_te_is(tmp_path: Path, monkeypatch, capsys, splits) -> None:
    monkeypatch.chdir(tmp_path)
    line = refused(["--baseline", "sam-box", *BENCH, "--splits", splits], capsys)
    assert "baseline mode scores single splits" in line
    assert [s for s in splits.split(",") if "+" in s][0] in line


def test_use_m2m_with_a_box_mode_names_the_automatic_modes(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["--baseline", "sam2-box", *BENCH, "--splits", "DIS-TE1", "--use-m2m"]
    assert "--use-m2m only apply to sam-auto / sam2-auto" in refused(argv, capsys)


def test_esam_checks_the_side_against_its_model_types_family(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    # esam runs on SAM or SAM2.1 as --model-type says: 48 px is 3 ViT patches of 16 (SAM runs),
    # but not a multiple of Hiera's 32 (SAM2 fails inside sam2).
    monkeypatch.chdir(tmp_path)
    argv = ["--baseline", "esam", *BENCH, "--splits", "DIS-TE1", "--model-image-size", "48"]
    line = refused([*argv, "--model-type", "tiny"], capsys)
    assert "multiple of 32 for SAM2 models" in line and "e.g. 32" in line
    checked([*argv, "--model-type", "vit_b"])
    checked(argv)  # no --model-type: SAM ViT-B, the default


def _documented_values() -> dict:
    """{setting: the text of its entry} in EsamSettings' docstring."""
    doc = EsamSettings.__doc__ or ""
    entries = re.split(r"\n {8}(?=\w+: )", doc.split("Arguments:", 1)[1])
    return {e.split(":", 1)[0].strip(): e.split(":", 1)[1] for e in entries if ":" in e}


def test_every_esam_default_is_the_value_its_docstring_gives() -> None:
    # README points at settings.py for "the values and the reasons for them": a default changed
    # without its documented reason would be run under the old one's name.
    documented = _documented_values()
    for f in fields(EsamSettings):
        text = f"{f.default:g}" if isinstance(f.default, float) else str(f.default)
        assert f.name in documented, f.name
        number = rf"(?<![\d.]){re.escape(text)}(?![\d])"
        assert re.search(number, documented[f.name]), (f.name, text, documented[f.name])


@pytest.mark.parametrize(
    "record, limit",
    [
        ({"data": {"limit": 2}}, 2),
        ({"data": {"limit": None}}, None),
        ({"data": "limit 2"}, None),  # a hand-edited run.json: not a fine-tuning on a subset
        ({"data": ["limit"]}, None),
        ("record", None),
    ],
)
def test_finetune_limit_reads_only_a_records_data_mapping(record: Any, limit: Any) -> None:
    assert finetune_limit(record) == limit
