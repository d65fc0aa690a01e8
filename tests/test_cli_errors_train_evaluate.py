"""Every CLI answers a bad input with one line and a non-zero exit, never a traceback (§4):
train.py, evaluate.py's modes, the synthetic-data generator, and the commands' log lines
(inference and checkpoints: test_cli_errors_inference.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from cli_cases import cli, one_error_line, train_main

from pmgsam.data import synthetic
from pmgsam.utils.cli import exit_status

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_device_cuda_without_cuda(tmp_path, capsys):
    argv = ["--config", str(REPO / "configs/demo.yaml"), "--output-dir", str(tmp_path / "r")]
    assert exit_status(train_main, [*argv, "train.device=cuda"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "train.device=cuda" in line and "CUDA is not available" in line


def test_train_takes_overrides_on_both_sides_of_an_option(tmp_path, capsys):
    # A bad key after --output-dir is read as an override (and refused by name), not reported
    # by argparse as "unrecognized arguments".
    argv = ["--config", str(REPO / "configs/demo.yaml"), "data.num_workers=0"]
    argv += ["--output-dir", str(tmp_path / "r"), "optim.lrr=1"]
    assert exit_status(train_main, argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "optim.lrr" in line and "unrecognized" not in line


@pytest.mark.parametrize(
    "args,expected",
    [
        (["model.patch_size=0"], "config key 'model.patch_size'"),
        (["optim.lr=.inf"], "config key 'optim.lr'"),
        (["train.seed=99999999999999999999"], "config key 'train.seed'"),
        (["model.fusion_channels=[1,"], "override 'model.fusion_channels=[1,'"),
        (["--config", "latin1.yaml"], "latin1.yaml' is not UTF-8 text"),
        (["--config", "model5.yaml", "model.image_size=64"], "model5.yaml': config key 'model'"),
    ],
)
def test_train_bad_config_is_one_line(tmp_path, capsys, args, expected):
    (tmp_path / "latin1.yaml").write_bytes(b"\xff\xfem\x00")
    (tmp_path / "model5.yaml").write_text("model: 5\n")
    args = [str(tmp_path / a) if a.endswith(".yaml") else a for a in args]
    config = [] if "--config" in args else ["--config", str(REPO / "configs/demo.yaml")]
    argv = [*config, "--output-dir", str(tmp_path / "r"), *args]
    code, err = cli(train_main, argv, capsys)
    assert code == 2 and expected in one_error_line(err)


def test_train_refuses_to_write_over_its_own_config_file(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    config = run / "config.yaml"
    text = f"base: {REPO / 'configs/demo.yaml'}\n# my notes\n"
    config.write_text(text)
    assert exit_status(train_main, ["--config", config, "--output-dir", run]) == 2
    assert "would be replaced" in one_error_line(capsys.readouterr().err)
    assert config.read_text() == text and sorted(run.iterdir()) == [config]


def test_synthetic_cli(tmp_path, capsys):
    (tmp_path / "DIS5K").mkdir()
    (tmp_path / "DIS5K" / "mine.txt").write_text("user data")
    argv = ["--layout", "dis5k", "--out", tmp_path, "--num", 2, "--no-progress"]
    code, err = cli(synthetic.main, argv, capsys)
    assert code == 2 and "not made by this generator" in one_error_line(err)
    assert (tmp_path / "DIS5K" / "mine.txt").read_text() == "user data"
    code, err = cli(synthetic.main, [*argv[:4], "--num", 0], capsys)
    assert code == 2 and "--num must be at least 2" in err
    code, err = cli(synthetic.main, [*argv[:4], "--size", "20x30"], capsys)
    assert code == 2 and "size must be at least 24x24, got '20x30'" in err


def test_synthetic_cli_names_its_own_overwrite_option(tmp_path, capsys):
    argv = ["--layout", "nc4k", "--out", tmp_path, "--num", 2, "--size", "24x24", "--no-progress"]
    assert cli(synthetic.main, argv, capsys)[0] == 0
    code, err = cli(synthetic.main, [*argv, "--seed", 1], capsys)
    assert code == 2 and one_error_line(err).endswith("other parameters; pass --overwrite"), err


def test_commands_log_the_package_info_lines_in_one_dated_format():
    import subprocess
    import sys

    code = (
        "import logging\n"
        "from pmgsam.utils.cli import run_cli\n"
        "def main():\n"
        "    logging.getLogger('pmgsam.engine.x').info('predicting 3 images')\n"
        "    logging.getLogger('otherlib').info('chatter')\n"
        "    logging.getLogger('otherlib').warning('worth seeing')\n"
        "run_cli(main, 'prog')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = done.stderr.splitlines()
    assert done.returncode == 0 and len(lines) == 2, done.stderr
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(rf"{stamp} INFO pmgsam.engine.x: predicting 3 images", lines[0])
    assert re.fullmatch(rf"{stamp} WARNING otherlib: worth seeing", lines[1])


@pytest.mark.parametrize(
    "argv, refused",
    [
        (["--config", "c.yaml", "--checkpoint", "w", "--limit", "3"], "--limit is not used by"),
        (["--pred-dir", "p", "--gt-dir", "g", "--out", "o.json", "--threshold", "0.9",
          "--limit", "2"], "--threshold, --limit are not used by DIS scoring"),
        (["--task", "cos", "--pred-dir", "p", "--gt-json", "g", "--out", "o", "--no-hce"],
         "--no-hce is not used by COS scoring"),
        (["--baseline", "sam-box", "--config", "c", "--checkpoint", "w", "--batch-size", "3"],
         "--batch-size is not used by baseline mode"),
        (["--config", "c.yaml", "--checkpoint", "w", "--task", "cos"], "--task is not used"),
    ],
)  # fmt: skip
def test_evaluate_refuses_options_its_mode_would_ignore(argv, refused, capsys):
    # Before, e.g. --limit 3 in benchmark mode silently scored every image of the split.
    import evaluate

    assert exit_status(evaluate.main, argv) == 2
    assert refused in capsys.readouterr().err


@pytest.mark.parametrize(
    "config, option, refused",
    [
        ("demo.yaml", ["--threshold", "0.3"], "--threshold is not used by benchmark mode on DIS"),
        ("demo.yaml", ["--protocol", "matched"], "--protocol is not used by benchmark mode on DIS"),
        ("pmgsam_cod10k_ft.yaml", ["--no-hce"], "--no-hce is not used by benchmark mode on COS"),
        ("pmgsam_cod10k_ft.yaml", ["--task", "dis"], "--task is not used by benchmark mode"),
        # --split was --splits abbreviated before scoring modes' --split existed.
        ("demo.yaml", ["--split", "DIS-VD"], "ignored; benchmark mode's splits are --splits"),
    ],
)
def test_benchmark_mode_refuses_the_other_protocols_options(config, option, refused, capsys):
    # The dataset decides the protocol: DIS5K scored with --protocol matched, or COD10K with
    # --no-hce or --task dis, ran as if they were not given and recorded nothing of them.
    import evaluate

    argv = ["--config", str(REPO / "configs" / config), "--checkpoint", "w", *option]
    assert exit_status(evaluate.main, argv) == 2
    assert refused in capsys.readouterr().err


def test_help_shows_defaults_that_are_set_and_none_that_are_not():
    import evaluate

    text = " ".join(evaluate.build_parser().format_help().split())
    assert "COS: foreground = prob > t (default: 0.5)" in text
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize("module", ["pmgsam.ablate", "pmgsam.engine.inference"])
def test_modules_run_as_commands_log_under_the_package(module):
    # Run with `python -m`, a module's __name__ is "__main__": a logger named after it would
    # sit outside the "pmgsam" logger that run_cli shows, and its INFO lines would be lost.
    import ast

    # Read, not run: as "__main__" the module would run its command.
    source = (REPO / (module.replace(".", "/") + ".py")).read_text()
    names = [
        node.value.args[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["logger"]
        and isinstance(node.value, ast.Call)
    ]
    assert len(names) == 1 and isinstance(names[0], ast.Constant) and names[0].value == module
