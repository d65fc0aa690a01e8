"""Audit of the training and evaluation commands as modules and scripts: a usage error names
the command as it was started (``train.py`` from the source folder, not the module's name), and
the missing-config refusal's configs/ hint is given for a path typed into ``configs/`` from
here (``configs/x.yaml``, ``./configs/x.yaml``) only, not for a path elsewhere that happens to
pass through a folder named configs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import evaluate as evaluate_script
import train as train_script
from pmgsam import evaluate as evaluate_module
from pmgsam import train as train_module
from pmgsam.utils.cli import exit_status, refuse_missing_config
from pmgsam.utils.config import ConfigError

SCRIPTS = {
    "train.py": (train_script, train_module),
    "evaluate.py": (evaluate_script, evaluate_module),
}


def _error_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("prog", sorted(SCRIPTS))
def test_a_usage_error_of_the_script_names_the_script(capsys, prog) -> None:
    script, _ = SCRIPTS[prog]
    assert exit_status(script.main, ["--bogus-option"]) == 2
    assert _error_line(capsys).startswith(f"{prog}: error: unrecognized arguments: --bogus")


@pytest.mark.parametrize("prog", sorted(SCRIPTS))
def test_run_under_the_scripts_name_names_it_in_usage_errors(monkeypatch, capsys, prog) -> None:
    # What 'python train.py --bogus' does: the module's run() with the script's name.
    _, module = SCRIPTS[prog]
    monkeypatch.setattr(sys, "argv", [prog, "--bogus-option"])
    with pytest.raises(SystemExit) as exit_:
        module.run(prog)
    assert exit_.value.code == 2
    assert _error_line(capsys).startswith(f"{prog}: error: unrecognized arguments: --bogus")


@pytest.mark.parametrize("path", ["configs/x.yaml", "./configs/x.yaml"])
def test_a_path_into_configs_here_says_where_the_configs_are(monkeypatch, tmp_path, path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="there is no configs/ folder") as err:
        refuse_missing_config(path)
    assert str(err.value).startswith(f"config file '{path}' does not exist (here, ")


@pytest.mark.parametrize("where", ["absolute", "above"])
def test_a_path_into_a_configs_folder_elsewhere_is_only_missing(monkeypatch, tmp_path, where):
    # The user named another folder: that it lacks the file is the whole error, whether or
    # not this folder has a configs/ of its own.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = str(tmp_path / "configs" / "x.yaml") if where == "absolute" else "../configs/x.yaml"
    with pytest.raises(ConfigError) as err:
        refuse_missing_config(path)
    assert str(err.value) == f"config file '{path}' does not exist"


def test_an_existing_config_and_no_config_pass(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text("model: {}\n")
    refuse_missing_config("mine.yaml")
    refuse_missing_config(None)  # --resume without --config: the run's config.yaml is read


def test_the_option_is_named_for_a_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(ConfigError, match=r"^--gt-config 'runs' is a folder, not a config file$"):
        refuse_missing_config("runs", option="--gt-config")


def test_the_hint_names_this_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        refuse_missing_config("configs/demo.yaml")
    assert f"(here, {Path.cwd()}, there is no configs/ folder" in str(err.value)
