"""A baseline row's name and prompt meta, which the tables read: an oracle row must say so in
its name and be marked in its meta, or the tables rank a GT-reading reduction as a baseline."""

from __future__ import annotations

from types import SimpleNamespace

from segment_anything import SamAutomaticMaskGenerator

from pmgsam.baselines.row import _prompt_meta, row_name
from pmgsam.baselines.settings import ORACLE_NOTE, EsamSettings
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


def test_non_default_generator_and_esam_settings_name_their_row() -> None:
    # Two sam-auto runs with other generator settings used to get one name, and
    # pmgsam.report refused them together. The defaults are segment-anything's own
    # (points_per_side 32, pred_iou_thresh 0.88); points_per_batch only batches prompts.
    generator = SamAutomaticMaskGenerator.__new__(SamAutomaticMaskGenerator)
    auto = SimpleNamespace(label="SAM ViT-B", mode="auto", prompt="auto", generator=generator)
    auto.settings = {"points_per_side": 16, "pred_iou_thresh": 0.88, "points_per_batch": 8}
    assert row_name(auto, "union", cos=False) == "SAM ViT-B auto [points-per-side 16] (union)"
    auto.settings = {"points_per_side": 32, "stability_score_thresh": 0.9}
    assert row_name(auto, "union", cos=True) == "SAM ViT-B auto [stability-score-thresh 0.9]"
    auto.settings = {"points_per_side": 32, "points_per_batch": 8}  # the defaults' results
    assert row_name(auto, "union", cos=False) == "SAM ViT-B auto (union)"
    m2m = SimpleNamespace(label="SAM2.1 tiny", mode="auto", prompt="auto", generator=generator)
    m2m.settings = {"use_m2m": True}
    assert row_name(m2m, "largest", cos=False) == "SAM2.1 tiny auto [use-m2m] (largest)"
    esam = SimpleNamespace(label="SAM ViT-B", mode="esam", prompt="auto")
    esam.settings = EsamSettings(object_nms=0.6, slic_segments=100)  # 100: the default
    assert row_name(esam, "union", cos=False) == "E-SAM-style SAM ViT-B [object-nms 0.6] (union)"
