"""The COS table says which rows were scored against which instance labels when they differ:
COD10K's COCO file and its ``GT_Instance`` PNGs (the fallback without it) give other AP on the
same predictions, so such rows are not ranked against each other."""

from __future__ import annotations

from pmgsam.evaluation.table_rendering import to_markdown
from pmgsam.evaluation.tables import build_tables, cos_table

JSON = {"kind": "json", "path": "/data/cod10k/Test/CAM_Instance_Test.json"}
PNG = {
    "kind": "png",
    "path": "/data/cod10k/Test/GT_Instance",
    "fallback": "no CAM_Instance_Test.json at '/data/cod10k/Test'",
}
NC4K_PNG = {"kind": "png", "path": "/data/nc4k/test/Instance"}


def _run(method: str, ap: float, cod_labels: dict | None, nc4k_ap: float = 0.2) -> dict:
    cod = {"AP": ap, "AP50": ap, "AP75": ap, "protocol": "all", "num_images": 4}
    if cod_labels is not None:
        cod["instance_labels"] = cod_labels
    nc4k = {"AP": nc4k_ap, "protocol": "all", "num_images": 3, "instance_labels": NC4K_PNG}
    return {"method": method, "cos": {"COD10K": cod, "NC4K": nc4k}}


def _best(table, method: str) -> list:
    cells = dict(zip([m for m, _ in table.rows], table.cell_texts()))
    return [best for _, best in cells[method]]


def test_rows_scored_against_the_coco_file_and_the_png_fallback_are_named_and_not_ranked():
    runs = [_run("ours", 0.4, JSON, 0.3), _run("sam", 0.5, PNG), _run("sam2", 0.3, JSON)]
    table = cos_table(runs)
    note = (
        "COD10K rows were scored against different instance labels (AP not comparable across "
        "them, no best marked): COCO file 'CAM_Instance_Test.json': ours, sam2; instance-map "
        "PNGs in 'GT_Instance' (fallback): sam."
    )
    assert note in table.notes
    # sam's 50.0 would be marked best in COD10K; NC4K (one source for all) keeps its best.
    assert not any(_best(table, "sam")[:3])
    assert _best(table, "ours")[3] is True
    assert not any("NC4K rows were scored" in n for n in table.notes)
    assert note in to_markdown(build_tables(runs)["cos"])


def test_one_source_for_all_rows_adds_no_note_even_from_different_folders():
    # The same COCO file on another machine (or moved) is the same source.
    moved = {"kind": "json", "path": "/home/me/COD10K-v3/CAM_Instance_Test.json"}
    table = cos_table([_run("ours", 0.4, JSON), _run("sam", 0.5, moved)])
    assert not any("instance labels" in n for n in table.notes)
    assert _best(table, "sam")[0] is True
    # Nor when no row recorded its source (scores written before pmgsam recorded it).
    table = cos_table([_run("ours", 0.4, None), _run("sam", 0.5, None)])
    assert not any("instance labels" in n for n in table.notes)


def test_a_row_that_did_not_record_its_source_is_named_but_still_ranked():
    table = cos_table([_run("ours", 0.4, JSON), _run("old", 0.5, None)])
    assert (
        "COD10K rows were scored against different instance labels (AP comparable only if "
        "they are the same): COCO file 'CAM_Instance_Test.json': ours; source not recorded: old."
    ) in table.notes
    assert _best(table, "old")[0] is True
