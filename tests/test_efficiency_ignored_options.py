"""``python -m pmgsam.efficiency`` refuses options it would ignore without a word, and a --json
that names a folder, before any model is built: each of these command lines used to time
something other than what it said (the config's model instead of --model, no compile mode, no
prompt grid) or write a file named after the folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.efficiency.cli import build_parser, main
from pmgsam.utils.cli import exit_status

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "pmgsam_tiny", "--device", "cpu", "--size", "32", "--iters", "1"]


def _refused(argv, capsys) -> str:
    assert exit_status(main, argv, "python -m pmgsam.efficiency") == 2
    return capsys.readouterr().err


def test_model_and_config_together_are_refused(capsys) -> None:
    err = _refused(["--model", "pmgsam_hiera_b+", "--config", ROOT / "configs/demo.yaml"], capsys)
    assert "--model pmgsam_hiera_b+ and --config" in err and "give one of them" in err


def test_model_defaults_to_hiera_b_plus_without_config() -> None:
    # Not given, --model is None (so that a --config beside it is told from one beside a
    # typed --model); the model measured is still the documented default.
    from pmgsam.efficiency import cli

    assert build_parser().parse_args([]).model is None
    assert cli.DEFAULT_MODEL == "pmgsam_hiera_b+"


def test_compile_mode_without_compile_is_refused(capsys) -> None:
    err = _refused([*TINY, "--compile-mode", "max-autotune"], capsys)
    assert "--compile-mode max-autotune" in err and "add --compile" in err


def test_sam_points_without_compare_is_refused(capsys) -> None:
    err = _refused([*TINY, "--sam-points-per-side", "4"], capsys)
    assert "--sam-points-per-side 4" in err and "--compare" in err


@pytest.mark.parametrize("option", [["--compile-mode", "default"], ["--sam-points-per-side", "32"]])
def test_a_default_given_explicitly_passes_the_check(option, monkeypatch) -> None:
    from pmgsam.efficiency import cli

    class Checked(Exception):
        pass

    def stop(*args, **kwargs):
        raise Checked

    # The checks pass; the device is resolved next (stopped there: nothing is timed).
    monkeypatch.setattr("pmgsam.engine.distributed.resolve_device", stop)
    with pytest.raises(Checked):
        cli.main([*TINY, *option])


def test_json_ending_in_a_separator_is_refused_as_a_folder(tmp_path: Path, capsys) -> None:
    folder = f"{tmp_path / 'effdir'}/"
    err = _refused([*TINY, "--json", folder], capsys)
    assert f"--json '{folder}' names a folder" in err
    assert not (tmp_path / "effdir").exists()  # no file named after the folder


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_method_is_refused(blank, tmp_path: Path, capsys) -> None:
    err = _refused([*TINY, "--run-dir", tmp_path, "--method", blank], capsys)
    assert f"--method is {'blank' if blank else 'empty'}" in err


@pytest.mark.parametrize("option", ["--json", "--run-dir", "--config"])
def test_an_empty_path_is_refused_not_ignored(capsys, option) -> None:
    # `--json "$OUT"` with OUT unset: the report was timed and nothing written, without a word
    # (an empty --config measured the default model instead).
    argv = ["--device", "cpu", "--size", "32", "--iters", "1", option, ""]
    err = _refused(argv, capsys)
    assert f"{option} is empty" in err


@pytest.mark.parametrize("config", [None, "configs/demo.yaml"])
def test_size_not_a_multiple_of_32_is_named_as_the_option_given(capsys, config) -> None:
    # The error named model.image_size, a config key this command line never gave.
    model = ["--config", str(ROOT / config)] if config else ["--model", "pmgsam_tiny"]
    err = _refused([*model, "--device", "cpu", "--size", "1023"], capsys)
    assert err.strip().endswith(
        "error: --size 1023: model.image_size must be a positive multiple of 32 (Hiera's total "
        "stride), got 1023"
    )
