"""The CLIPSeg prior of the Pre-Mask analysis: maps of one model and prompt are never scored
as another prompt's, and every spelling of a split's images shares one cache, old-named ones
included (CPU; a stand-in CLIPSeg whose map depends on the prompt)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from test_analysis import DEMO, _fake_run

import pmgsam.analysis.clipseg as clipseg
from pmgsam.analysis.__main__ import main
from pmgsam.evaluation.scoring import EvaluationInputError


class _Model:
    """Returns the logits the processor put in its inputs."""

    def to(self, device: str) -> _Model:
        return self

    def __call__(self, logits: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=logits)


def _prompted_clipseg(model_dir: Path):
    """(processor, model): every pixel foreground for the prompt 'everything', else none."""

    def processor(text, images, **kwargs):
        return {"logits": torch.full((1, 8, 8), 10.0 if text == ["everything"] else -10.0)}

    return processor, _Model()


def _clipseg_iou(run: Path, prompt: str) -> float:
    out = run / "analysis" / "premask_DIS-TE1"
    return json.loads((out / "summary.json").read_text())["means"][f"CLIPSeg ('{prompt}')"]["IoU"]


def test_clipseg_maps_of_another_prompt_are_not_reused(tmp_path, dis5k_root, monkeypatch):
    monkeypatch.setattr(clipseg, "_load", _prompted_clipseg)
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set())
    model_dir = tmp_path / "clipseg-rd64-refined"
    model_dir.mkdir()
    args = ["premask", "--run", str(run), "--clipseg", str(model_dir), "--config", str(DEMO),
            "--split", "DIS-TE1", f"data.root={dis5k_root}",
            f"data.split_dir={tmp_path / 'splits'}", "--device", "cpu"]  # fmt: skip
    # By hand: a map that is all foreground has IoU |GT| / |image| with each GT.
    gts = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 128 for p in
           sorted((dis5k_root / "DIS-TE1" / "gt").glob("*.png"))]  # fmt: skip
    assert all(g.any() for g in gts)
    everything = float(np.mean([g.sum() / g.size for g in gts]))
    assert main(args + ["--prompt", "everything"]) == 0
    assert _clipseg_iou(run, "everything") == pytest.approx(everything)
    # Another prompt gets its own maps (empty here: IoU 0), not the first prompt's.
    assert main(args + ["--prompt", "nothing"]) == 0
    assert _clipseg_iou(run, "nothing") == 0.0
    # Each folder names the model and prompt of its maps; asked again, none is predicted anew.
    folders = sorted((run / "priors" / "clipseg" / "DIS-TE1").iterdir())
    records = [json.loads((f / clipseg.RECORD).read_text()) for f in folders]
    assert sorted(r["prompt"] for r in records) == ["everything", "nothing"]
    assert {r["model"] for r in records} == {str(model_dir.resolve())}
    monkeypatch.setattr(clipseg, "_load", lambda model_dir: pytest.fail("predicted again"))
    assert main(args + ["--prompt", "everything"]) == 0
    assert _clipseg_iou(run, "everything") == pytest.approx(everything)


def test_a_folder_of_unrecorded_maps_is_refused(tmp_path) -> None:
    out = tmp_path / "maps"
    out.mkdir()
    cv2.imwrite(str(out / "a.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(EvaluationInputError, match=r"unrecorded model and prompt .* 'a dog'"):
        clipseg.clipseg_maps(tmp_path, "a dog", [], [], out)
    (out / clipseg.RECORD).write_text(json.dumps(clipseg._identity(tmp_path, "a cat")))
    with pytest.raises(EvaluationInputError, match=r"prompt 'a cat', not of .* prompt 'a dog'"):
        clipseg.clipseg_maps(tmp_path, "a dog", [], [], out)


def test_every_spelling_of_a_split_names_one_cache(tmp_path) -> None:
    key = clipseg.clipseg_folder(tmp_path, tmp_path / "model", "a dog").name
    for split in ("DIS-TE", "DIS-TE1+DIS-TE2+DIS-TE3+DIS-TE4", "DIS-TE4+DIS-TE3+DIS-TE2+DIS-TE1"):
        folder = clipseg.clipseg_cache(tmp_path / "priors", split, tmp_path / "model", "a dog")
        assert folder == tmp_path / "priors" / "DIS-TE1-4" / key
    assert clipseg.split_cache_name("DIS-TE3+DIS-TE1") == "DIS-TE1+DIS-TE3"
    assert clipseg.split_cache_name("DIS-VD") == "DIS-VD"


def test_the_same_images_under_another_split_spelling_are_not_predicted_again(
    tmp_path, dis5k_root, monkeypatch
) -> None:
    monkeypatch.setattr(clipseg, "_load", _prompted_clipseg)
    for split in ("DIS-TE1", "DIS-TE2"):
        run = _fake_run(tmp_path, dis5k_root, split, "Ours", set())
    model_dir = tmp_path / "clipseg-rd64-refined"
    model_dir.mkdir()

    def analyse(split: str) -> None:
        args = ["premask", "--run", str(run), "--clipseg", str(model_dir), "--config", str(DEMO),
                "--split", split, "--prompt", "everything", "--device", "cpu",
                f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]  # fmt: skip
        assert main(args) == 0

    analyse("DIS-TE2+DIS-TE1")
    priors = run / "priors" / "clipseg"
    assert [p.name for p in priors.iterdir()] == ["DIS-TE1+DIS-TE2"]
    maps = sorted(p.name for p in (priors / "DIS-TE1+DIS-TE2").rglob("*.png"))
    assert len(maps) == 4  # the two images of each part
    monkeypatch.setattr(clipseg, "_load", lambda model_dir: pytest.fail("predicted again"))
    analyse("DIS-TE1+DIS-TE2")
    # A cache an older pmgsam named after --split as typed is read, not orphaned.
    (priors / "DIS-TE1+DIS-TE2").rename(priors / "DIS-TE2+DIS-TE1")
    analyse("DIS-TE1+DIS-TE2")
    assert [p.name for p in priors.iterdir()] == ["DIS-TE2+DIS-TE1"]
    summary = run / "analysis" / "premask_DIS-TE1+DIS-TE2" / "summary.json"
    assert json.loads(summary.read_text())["num_images"] == 4


def test_a_combined_split_with_one_image_name_in_two_parts_is_refused(
    tmp_path, dis5k_root, monkeypatch
) -> None:
    """CLIPSeg maps (and priors) of a combined split lie in one folder by image name: a name in
    two parts would give the second part's image the first one's map (skipped as done)."""
    import shutil

    root = Path(shutil.copytree(dis5k_root, tmp_path / "DIS5K"))
    first = sorted((root / "DIS-TE1" / "gt").glob("*.png"))[0].stem
    renamed = sorted((root / "DIS-TE2" / "gt").glob("*.png"))[0].stem
    for sub, ext in (("im", ".jpg"), ("gt", ".png")):
        (root / "DIS-TE2" / sub / f"{renamed}{ext}").rename(
            root / "DIS-TE2" / sub / f"{first}{ext}"
        )
    monkeypatch.setattr(clipseg, "_load", lambda model_dir: pytest.fail("CLIPSeg predicted"))
    run = _fake_run(tmp_path, root, "DIS-TE1", "Ours", set())
    args = ["premask", "--run", str(run), "--clipseg", str(tmp_path), "--config", str(DEMO),
            "--split", "DIS-TE1+DIS-TE2", f"data.root={root}",
            f"data.split_dir={tmp_path / 'splits'}", "--device", "cpu"]  # fmt: skip
    with pytest.raises(EvaluationInputError, match=rf"--clipseg: .* same name .*\({first}\)"):
        main(args)
    assert not (run / "pred" / "DIS-TE2").exists()  # refused before predicting anything
    (tmp_path / "mine").mkdir()
    prior = ["--prior-dir", f"Mine={tmp_path / 'mine'}"]
    with pytest.raises(EvaluationInputError, match=rf"prior 'Mine' .* same name .*\({first}\)"):
        main([a for a in args if a not in ("--clipseg", str(tmp_path))] + prior)


def test_an_older_cache_is_read_only_for_the_same_parts_and_never_over_the_canonical_one(
    tmp_path,
) -> None:
    priors, model = tmp_path / "priors", tmp_path / "model"
    key = clipseg.clipseg_folder(tmp_path, model, "a dog").name
    # The maps of other images (DIS-TE2), of the same model and prompt: never DIS-TE1's.
    (priors / "DIS-TE2" / key).mkdir(parents=True)
    assert clipseg.clipseg_cache(priors, "DIS-TE1", model, "a dog") == priors / "DIS-TE1" / key
    # An older cache of the same parts (typed in another order) is read...
    (priors / "DIS-TE3+DIS-TE1" / key).mkdir(parents=True)
    older = priors / "DIS-TE3+DIS-TE1" / key
    assert clipseg.clipseg_cache(priors, "DIS-TE1+DIS-TE3", model, "a dog") == older
    # ... for this model and prompt only: one holding another prompt's maps is not this
    # prompt's cache, whose new folder goes under the canonical name.
    other = clipseg.clipseg_folder(tmp_path, model, "a cat").name
    assert clipseg.clipseg_cache(priors, "DIS-TE3+DIS-TE1", model, "a cat") == (
        priors / "DIS-TE1+DIS-TE3" / other
    )
    # ... unless the canonical one exists: its maps are the ones kept up to date.
    (priors / "DIS-TE" / key).mkdir(parents=True)
    (priors / "DIS-TE1-4" / key).mkdir(parents=True)
    assert clipseg.clipseg_cache(priors, "DIS-TE", model, "a dog") == priors / "DIS-TE1-4" / key


def test_the_default_device_auto_is_resolved_before_clipseg_runs(tmp_path, monkeypatch) -> None:
    seen = []

    class _Recording(_Model):
        def to(self, device: str) -> _Model:
            seen.append(torch.device(device))  # torch's own parsing: "auto" is no device
            return self

    monkeypatch.setattr(clipseg, "_load", lambda d: (_prompted_clipseg(d)[0], _Recording()))
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((6, 5, 3), np.uint8))
    out = tmp_path / "maps"
    clipseg.clipseg_maps(tmp_path / "model", "everything", [image], ["a"], out, device="auto")
    assert seen == [torch.device("cuda:0" if torch.cuda.is_available() else "cpu")]
    assert cv2.imread(str(out / "a.png"), cv2.IMREAD_GRAYSCALE).shape == (6, 5)
