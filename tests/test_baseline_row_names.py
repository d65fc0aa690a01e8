"""A baseline row's name and prompt meta, which the tables read: an oracle row must say so in
its name and be marked in its meta, or the tables rank a GT-reading reduction as a baseline."""

from __future__ import annotations

from types import SimpleNamespace

from pmgsam.baselines.row import _prompt_meta, row_name
from pmgsam.baselines.settings import ORACLE_NOTE
from pmgsam.evaluation.table_rendering import to_markdown
from pmgsam.evaluation.tables import dis_table

AUTO = SimpleNamespace(label="SAM ViT-B", mode="auto", prompt="auto")
ESAM = SimpleNamespace(label="SAM2.1 tiny", mode="esam", prompt="auto")
BOX = SimpleNamespace(label="SAM ViT-H", mode="box", prompt="box")


def test_row_names_say_what_the_numbers_depend_on() -> None:
    assert row_name(AUTO, "union", cos=False) == "SAM ViT-B auto (union)"
    assert row_name(AUTO, "oracle", cos=False) == "SAM ViT-B auto (ORACLE upper bound)"
    assert row_name(AUTO, "oracle", cos=True) == "SAM ViT-B auto"  # COS scores every mask
    assert row_name(ESAM, "largest", cos=False) == "E-SAM-style SAM2.1 tiny (largest)"
    assert row_name(BOX, "oracle", cos=False) == "SAM ViT-H GT box"
    assert row_name(BOX, "union", cos=True) == "SAM ViT-H GT box per instance"


def test_an_oracle_rows_meta_keeps_it_out_of_the_ranking() -> None:
    oracle = _prompt_meta(AUTO, "oracle", cos=False)
    assert oracle == {"reduce": "oracle", "reduce_is_oracle": True, "reduce_note": ORACLE_NOTE}
    fair = _prompt_meta(ESAM, "largest", cos=False)
    assert fair == {"reduce": "largest", "reduce_is_oracle": False, "reduce_note": "no GT used"}
    # The oracle's MAE 0.01 is the best, but the row is not ranked: PMG-SAM's 0.1 is bold
    # (beating the fair union row's 0.2).
    runs = [
        {"method": row_name(AUTO, "oracle", False), "meta": oracle,
         "dis": {"DIS-VD": {"MAE": 0.01, "num_images": 2}}},
        {"method": "PMG-SAM", "dis": {"DIS-VD": {"MAE": 0.1, "num_images": 2}}},
        {"method": row_name(AUTO, "union", False), "meta": _prompt_meta(AUTO, "union", False),
         "dis": {"DIS-VD": {"MAE": 0.2, "num_images": 2}}},
    ]  # fmt: skip
    md = to_markdown(dis_table(runs))
    assert "| PMG-SAM | – | – | **0.100** |" in md and "**0.010**" not in md
