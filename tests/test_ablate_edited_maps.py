"""``pmgsam.ablate --evaluate`` predicting into a variant's ``pred/<part>`` folders follows the
rule of the other prediction commands: a map pmgsam wrote there and the user edited since is
refused (naming it and ``--overwrite``, every part's folder checked before the model loads)
and left as it is, and ``--overwrite`` predicts it again; an untouched, thinned or older
(manifest-less) folder, and a map whose time alone moved, need no flag. Kept maps holding an
edited one are not scored as the model's. One variant of test_ablate_run_record's grid,
trained once. Last, the refusal (pmgsam.utils.outputs) names a map that cannot be read as
unreadable, not as other bytes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List

import pytest
from map_cases import PRODUCER_A, replace_by_hand, run_into, touch_later
from test_ablate_run_record import PARTS, scored  # noqa: F401 (the trained variant)

from pmgsam import ablate
from pmgsam.utils.outputs import MANIFEST, OutputError, check_output_dir

SCORES = Path("metrics", "DIS-TE1-4.json")


@pytest.fixture
def trained(request, small_branches) -> Dict[str, object]:
    """test_ablate_run_record's ``scored``: k1 trained and scored with --no-hce, once."""
    return request.getfixturevalue("scored")


def _variant(trained: Dict[str, object], tmp_path: Path, keep_scores: bool = False) -> Path:
    """A copy of the trained variant ``k1``; without ``keep_scores`` its scores are gone, so
    the next ``--evaluate`` predicts its maps again."""
    run = Path(shutil.copytree(trained["out"], tmp_path / "out")) / "k1"
    if not keep_scores:
        shutil.rmtree(run / "metrics")
    return run


def _evaluate(trained: Dict[str, object], run: Path, *options: str) -> int:
    args = ["--grid", trained["grid"], "--output-dir", run.parent, "--only", "k1"]
    args += ["--device", "cpu", "--quiet", "--evaluate", *options, *trained["overrides"]]
    return ablate.main([str(a) for a in args])


def _maps(run: Path) -> Dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(run.glob("pred/*/*.png"))}


def _stamps(run: Path) -> Dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in run.glob("pred/*/*.png")}


def _first_map(run: Path, part: str) -> Path:
    return sorted((run / "pred" / part).glob("*.png"))[0]


def test_an_edited_map_is_refused_before_any_part_is_predicted(trained, tmp_path) -> None:
    run = _variant(trained, tmp_path)
    edited = _first_map(run, PARTS[-1])  # the last part: no earlier one may be predicted
    edited_bytes = replace_by_hand(edited)
    maps, stamps = _maps(run), _stamps(run)
    with pytest.raises(OutputError) as refused:
        _evaluate(trained, run, "--no-hce")
    message = str(refused.value)
    assert f"'{edited.parent}' holds 1 map(s) changed since pmgsam wrote them" in message
    assert f"({edited.name})" in message and "pass --overwrite to replace them" in message
    assert edited.read_bytes() == edited_bytes
    assert _maps(run) == maps and _stamps(run) == stamps  # nothing predicted, in any part
    assert not (run / SCORES).exists()


def test_overwrite_predicts_an_edited_map_again(trained, tmp_path) -> None:
    run = _variant(trained, tmp_path)
    edited = _first_map(run, "DIS-TE1")
    predicted = edited.read_bytes()
    replace_by_hand(edited)
    assert _evaluate(trained, run, "--no-hce", "--splits", "DIS-TE1", "--overwrite") == 0
    assert edited.read_bytes() == predicted  # the same weights' map again, not the edit
    assert (run / "metrics" / "DIS-TE1.json").is_file()


@pytest.mark.parametrize("change", ["none", "deleted", "touched", "no manifest"])
def test_maps_of_pmgsam_need_no_flag(trained, tmp_path, change: str) -> None:
    # A deleted map is predicted again; one whose time alone moved has the bytes recorded; an
    # older pmgsam.ablate left no manifest, so its maps (edited or not) are the grid's own.
    run = _variant(trained, tmp_path)
    folder = run / "pred" / "DIS-TE1"
    first = _first_map(run, "DIS-TE1")
    predicted = first.read_bytes()
    if change == "deleted":
        first.unlink()
    elif change == "touched":
        touch_later(first)
    elif change == "no manifest":
        (folder / MANIFEST).unlink()
        replace_by_hand(first)
    assert _evaluate(trained, run, "--no-hce", "--splits", "DIS-TE1") == 0
    assert first.read_bytes() == predicted
    assert (folder / MANIFEST).is_file() and (run / "metrics" / "DIS-TE1.json").is_file()


def test_kept_maps_with_an_edited_one_are_not_scored_as_the_models(trained, tmp_path) -> None:
    # Scores made with --no-hce: asking for HCE scores the kept maps again, predicting
    # nothing. An edited map among them is no map of the weights the scores would name.
    run = _variant(trained, tmp_path, keep_scores=True)
    edited = _first_map(run, "DIS-TE2")
    edited_bytes = replace_by_hand(edited)
    scores = (run / SCORES).read_bytes()
    with pytest.raises(OutputError, match=rf"holds 1 map\(s\) changed .*\({edited.name}\)"):
        _evaluate(trained, run)
    assert edited.read_bytes() == edited_bytes and (run / SCORES).read_bytes() == scores


def test_scores_that_stand_refuse_no_edited_map(trained, tmp_path) -> None:
    # Scores that stand predict nothing, so an edited map is not in the way of the call.
    run = _variant(trained, tmp_path, keep_scores=True)
    edited_bytes = replace_by_hand(_first_map(run, "DIS-TE1"))
    assert _evaluate(trained, run, "--no-hce") == 0
    assert _first_map(run, "DIS-TE1").read_bytes() == edited_bytes


def test_a_map_that_cannot_be_read_is_named_unreadable(tmp_path) -> None:
    out = tmp_path / "maps"
    names: List[str] = ["a.png", "b.png"]
    run_into(out, names, PRODUCER_A)
    (out / "b.png").unlink()
    (out / "b.png").mkdir()  # a folder where the map was: it cannot be opened to compare
    replace_by_hand(out / "a.png")
    with pytest.raises(OutputError) as refused:
        check_output_dir(out, names)
    message = str(refused.value)
    assert "1 map(s) changed since pmgsam wrote them (a.png)" in message
    assert "1 map(s) pmgsam wrote that cannot be read now to check them (b.png: " in message
    assert "b.png" not in message.split("cannot be read")[0]
