"""Resume checks (pmgsam.engine.resume_checks), pinned where the other tests left a gap: the
command a refused process count suggests names the folder that the resume would continue."""

from __future__ import annotations

import re

import pytest

from pmgsam.engine.resume_checks import check_world_size
from pmgsam.engine.state import load_training_state, run_dir_of, save_checkpoint
from pmgsam.utils.config import ConfigError


@pytest.mark.parametrize("where", ["run/checkpoints/last", "run/checkpoints/.last.old", "kept"])
def test_the_suggested_command_resumes_the_folder_the_state_belongs_to(
    tmp_path, tiny_model, where
) -> None:
    # A checkpoint folder kept outside any run's checkpoints/ (`kept`) resumes into itself
    # (run_dir_of), so the command must name it, not the folder two levels up.
    folder = tmp_path / where
    save_checkpoint(folder, tiny_model, {"epoch": 2, "world_size": 2})
    expected = tmp_path / ("kept" if where == "kept" else "run")
    assert run_dir_of(folder) == expected
    with pytest.raises(
        ConfigError, match=re.escape(f"--nproc_per_node 2 train.py --resume {expected},")
    ):
        check_world_size(load_training_state(folder), 1)
