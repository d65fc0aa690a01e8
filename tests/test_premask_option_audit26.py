"""Audit of ``predict_split``'s ``premask_option``: every refusal about the Pre-Mask folder
names it as the caller does (premask: ``--run``'s folder), the shared-folder one included."""

from __future__ import annotations

import pytest
from test_inference_postprocess import experiment, loads  # noqa: F401 (fixtures)

from pmgsam.engine.inference import predict_split
from pmgsam.utils.outputs import OutputError

pytestmark = pytest.mark.usefixtures("one_thread")
NAME = "--run's Pre-Mask map folder"


def test_a_premask_folder_shared_with_the_output_is_named_as_the_caller_names_it(
    loads,
    experiment,
    tmp_path,  # noqa: F811 (the fixtures)
) -> None:
    out = tmp_path / "out"
    with pytest.raises(OutputError, match=rf"^{NAME} '.*' is --output-dir '.*': both receive"):
        predict_split(experiment, "w", "DIS-TE1", out, device="cpu", progress=False,
                      premask_dir=out, option="--output-dir", premask_option=NAME)  # fmt: skip
    assert not out.exists()
