"""Audit of the config reader's ``~/`` rule: only a value starting with ``~/`` is the home
folder; other tildes are text (``os.path.expanduser`` alone would also expand ``~`` and
``~user``)."""

from __future__ import annotations

from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import load_config


def test_only_tilde_slash_is_expanded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    # '~' quoted is text (unquoted it is YAML's null); '~root/x' names root's home to
    # expanduser ('/root/x' on Linux), which is not what the rule promises.
    cfg = load_config(ExperimentConfig, None, ["data.root='~'", "output_dir=~root/x"])
    assert cfg.data.root == "~"
    assert cfg.output_dir == "~root/x"
    assert load_config(ExperimentConfig, None, ["data.root=~/d"]).data.root == f"{tmp_path}/d"
