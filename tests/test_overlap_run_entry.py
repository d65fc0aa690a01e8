"""What the overlap analysis records for the COS table: the subset's entry in --run's run.json
carries the rule and the share of the set it covers, which the table's note states under the
"<name> overlap" column."""

from __future__ import annotations

import json

import pytest
from test_overlap_analysis import _scored_run

from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.utils.cli import exit_status

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_the_subset_entry_records_its_rule_and_share(tmp_path, capsys) -> None:
    # Image 1 of 2 holds two touching squares: the subset is half the set.
    argv, run, _ = _scored_run(tmp_path)
    assert exit_status(analysis_main, [*argv, "--rule", "touch"]) == 0
    entry = json.loads((run / "run.json").read_text())["cos"]["T overlap"]
    assert (entry["share"], entry["rule"], entry["num_images"]) == (0.5, "touch", 1)
    out = capsys.readouterr().out
    assert "### T overlap\n" in out
    assert "T overlap: the images whose GT instances overlap (rule 'touch'), 50.0 % of" in out
