"""Training and evaluation are package modules (``python -m pmgsam.train``, ``python -m
pmgsam.evaluate``), so that an installed package runs them; the source folder's ``train.py`` and
``evaluate.py`` run the same code under their own names. A config path into ``configs/`` typed
where no such folder is (the README's commands, outside the source folder) says where the
example configs are: they are not installed. The installed wheel itself is run in
test_release_archives.py."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from pmgsam import evaluate as evaluate_module
from pmgsam import train as train_module
from pmgsam.utils.cli import exit_status

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"train": train_module, "evaluate": evaluate_module}
# A first argument each command takes to a --config error, without a model or data.
CONFIG_ERRORS = {
    "train": ["--config", "configs/demo.yaml"],
    "evaluate": ["--config", "configs/demo.yaml", "--checkpoint", "w"],
}


def _run(start, monkeypatch, capsys, argv) -> tuple:
    """(exit status, last stderr line) of ``start()`` on the command line ``argv``."""
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        start()
    return exit_.value.code, capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("name", ["train", "evaluate"])
def test_started_as_a_module_it_is_named_as_typed(monkeypatch, capsys, name) -> None:
    # python -m sets sys.argv[0] to the module's file, which argparse would show: 'train.py'.
    monkeypatch.setattr(sys, "argv", [str(ROOT / "pmgsam" / f"{name}.py")])
    module, prog = MODULES[name], f"python -m pmgsam.{name}"
    assert module.build_parser().format_usage().startswith(f"usage: {prog} [-h]")
    assert exit_status(module.main, ["--bogus-option"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"{prog}: error: ")


@pytest.mark.parametrize("name", ["train", "evaluate"])
def test_module_and_script_say_a_missing_config_under_their_own_names(
    monkeypatch, capsys, tmp_path, name
) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ here
    argv = CONFIG_ERRORS[name]
    code, line = _run(MODULES[name].run, monkeypatch, capsys, [f"pmgsam/{name}.py", *argv])
    assert code == 2
    assert line.startswith(f"python -m pmgsam.{name}: error: config file 'configs/demo.yaml' ")
    # The script by its path, as the README types it from another folder.
    script = str(ROOT / f"{name}.py")
    code, line = _run(
        lambda: runpy.run_path(script, run_name="__main__"), monkeypatch, capsys, [script, *argv]
    )
    assert code == 2 and line.startswith(f"{name}.py: error: config file 'configs/demo.yaml' ")


@pytest.mark.parametrize("name", ["train", "evaluate"])
def test_a_config_in_a_missing_configs_folder_says_where_configs_are(
    monkeypatch, capsys, tmp_path, name
) -> None:
    monkeypatch.chdir(tmp_path)
    code, line = _run(MODULES[name].run, monkeypatch, capsys, ["x", *CONFIG_ERRORS[name]])
    assert code == 2
    assert "there is no configs/ folder" in line and "source archive" in line, line
    # Where there is a configs/ folder, the file is the mistake (a typo): said alone.
    (tmp_path / "configs").mkdir()
    code, line = _run(MODULES[name].run, monkeypatch, capsys, ["x", *CONFIG_ERRORS[name]])
    assert code == 2 and line.endswith("config file 'configs/demo.yaml' does not exist"), line
    # A folder is not "missing": it is not a file.
    argv = ["x", "--config", "configs", *CONFIG_ERRORS[name][2:]]
    code, line = _run(MODULES[name].run, monkeypatch, capsys, argv)
    assert code == 2 and line.endswith("--config 'configs' is a folder, not a config file"), line


def test_a_baseline_row_says_where_configs_are_too(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["x", "--baseline", "sam-box", "--model-type", "vit_b", "--checkpoint", "w"]
    code, line = _run(
        evaluate_module.run, monkeypatch, capsys, [*argv, "--config", "configs/demo.yaml"]
    )
    assert code == 2 and "there is no configs/ folder" in line, line


def test_under_torchrun_the_training_module_alone_shares_its_work(
    monkeypatch, capsys, tmp_path
) -> None:
    # torchrun -m pmgsam.train: WORLD_SIZE 2, the config error reached (not a refusal) and
    # said by local rank 0; evaluation refuses to run as two processes.
    monkeypatch.chdir(tmp_path)
    for key, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(key, value)
    code, line = _run(train_module.run, monkeypatch, capsys, ["x", *CONFIG_ERRORS["train"]])
    assert code == 2 and "config file 'configs/demo.yaml' does not exist" in line, line
    code, line = _run(evaluate_module.run, monkeypatch, capsys, ["x", *CONFIG_ERRORS["evaluate"]])
    assert code == 2 and line.startswith("python -m pmgsam.evaluate: error: this command runs in")
    assert "python -m pmgsam.train" in line
