"""``evaluate.py --baseline ... --skip-existing``: a stopped SAM automatic-mask run resumes with
the maps, COCO instances and scores a straight run gives, predicting only the images still
without a map, and never keeps maps of another checkpoint or setting.

SAM ViT-B at a 64-px input (conftest's ``sam_file``), its image encoder memoised for the module,
on one thread, as in tests/test_baselines.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from conftest import data_configs_in
from resume_cases import count_reads
from segment_anything import SamAutomaticMaskGenerator
from segment_anything.modeling import ImageEncoderViT

import evaluate
from pmgsam.baselines import runner
from pmgsam.baselines import sam as sam_family
from pmgsam.baselines.resume import RECORDS
from pmgsam.data import datasets as data_module
from pmgsam.modeling import checkpoint as checkpoint_module
from pmgsam.utils.config import to_dict
from pmgsam.utils.outputs import MANIFEST, OutputError, read_manifest

AUTO = ["--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]
FAST = ["--device", "cpu", "--quiet", "--model-image-size", "64", "--speed-iters", "1"]
FAST += ["--speed-warmup", "0"]

pytestmark = [
    pytest.mark.usefixtures("one_thread_module"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


@pytest.fixture(scope="module", autouse=True)
def memoised_encoder(memoise):
    return memoise(ImageEncoderViT, "forward", lambda out: out.clone())


@pytest.fixture(scope="module")
def argv(sam_file, cod10k_root, tmp_path_factory) -> List[str]:
    """sam-auto on COD10K Test (3 camouflaged images, scored as COCO instances). One experiment
    file for the module: run.json records its path, and :func:`straight` is compared with the
    tests' runs."""
    folder = tmp_path_factory.mktemp("config")
    data = data_configs_in(folder / "splits")("cod10k", cod10k_root)  # conftest's, module-wide
    cfg = folder / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": to_dict(data)}))
    return ["--baseline", "sam-auto", "--checkpoint", str(sam_file[0]), "--config", str(cfg),
            "--dataset", "cod10k", "--splits", "Test", *FAST, *AUTO]  # fmt: skip


def count_generated(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """The size of every image SamAutomaticMaskGenerator generates masks for from now on."""
    calls: List[int] = []
    real = SamAutomaticMaskGenerator.generate

    def generate(self, image):
        calls.append(image.size)
        return real(self, image)

    monkeypatch.setattr(SamAutomaticMaskGenerator, "generate", generate)
    return calls


@pytest.fixture
def generated(monkeypatch) -> List[int]:
    """The size of every image SamAutomaticMaskGenerator generates masks for."""
    return count_generated(monkeypatch)


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """Image stems counted each time an image's pixels are read (GT masks not counted)."""
    return count_reads(monkeypatch, data_module, ["load_image"])


def run(argv: List[str], out: Path, *extra: str) -> Dict[str, Any]:
    assert evaluate.main([*argv, "--output-dir", str(out), *extra]) == 0
    return json.loads((out / "run.json").read_text())


def files(folder: Path) -> Dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def comparable(record: Dict[str, Any]) -> Dict[str, Any]:
    """run.json without what timing changes (speed, FPS) or the run folder names."""
    meta = dict(record["meta"])
    report = meta.pop("efficiency_report")
    meta["split Test"] = {
        k: v for k, v in meta["split Test"].items() if k not in ("pred_dir", "gt_json")
    }
    timed = {k: report[k] for k in ("flops_per_image", "timed_image_size", "timed_prompts")}
    return {"cos": record["cos"], "meta": meta, "timed": timed}


@pytest.fixture(scope="module")
def straight(argv, tmp_path_factory, memoised_encoder, one_thread_module) -> tuple:
    """(run folder, generated): a straight run made once for the module for the tests to
    compare theirs with (read-only; a test that starts from it copies it), and the sizes of
    the images it generated masks for."""
    out = tmp_path_factory.mktemp("straight") / "run"
    with pytest.MonkeyPatch.context() as mp:
        calls = count_generated(mp)
        run(argv, out)
    return out, calls


def test_resumed_auto_run_gives_the_straight_runs_maps_instances_and_scores(
    argv, straight, tmp_path, monkeypatch, generated, reads
) -> None:
    (straight, straight_generated), out = straight, tmp_path / "run"
    expected = comparable(json.loads((straight / "run.json").read_text()))
    predicted = len(straight_generated) - 2  # the FLOP count and the timed pass generate too
    assert predicted == 3
    # Stopped while writing its second map: the first image's map and record are there.
    real, written = runner.write_probability_png, []

    def failing(prob, path, nan_maps=None):
        if written:
            raise OSError("simulated kill")
        written.append(path.name)
        real(prob, path, nan_maps)

    with monkeypatch.context() as patch:
        patch.setattr(runner, "write_probability_png", failing)
        with pytest.raises(OSError, match="simulated kill"):
            run(argv, out)
    generated.clear()
    reads.clear()
    resumed = run(argv, out, "--skip-existing")
    # Two images predicted; the kept first one is read again only to be timed.
    first = Path(written[0]).stem
    assert len(generated) == 2 + 2 and len(reads) == 3 and reads[first] == 1
    assert comparable(resumed) == expected
    pred = out / "pred" / "Test"
    maps = {k: v for k, v in files(pred).items() if k not in (MANIFEST, RECORDS)}
    assert maps == {k: v for k, v in files(straight / "pred" / "Test").items() if k in maps}
    assert len(maps) == 3
    assert json.loads((straight / "metrics" / "Test.results.json").read_text())  # instances
    for name in ("Test.results.json", "Test.gt.json", "Test.json"):
        assert (out / "metrics" / name).read_text() == (straight / "metrics" / name).read_text()
    producer = read_manifest(pred)["producer"]
    assert producer["weights_sha256"] == hashlib.sha256(Path(argv[3]).read_bytes()).hexdigest()
    assert producer["settings"]["generator"]["points_per_side"] == 2
    # Nothing left to predict: only the timed image is read (and generated to be timed).
    generated.clear()
    reads.clear()
    assert comparable(run(argv, out, "--skip-existing")) == expected and len(generated) == 2
    assert list(reads) == [first]


def test_maps_of_other_settings_are_refused_before_the_model_loads(
    argv, straight, tmp_path, monkeypatch, capsys
) -> None:
    out = Path(shutil.copytree(straight[0], tmp_path / "run"))  # a finished run of 2 points
    before = files(out / "pred" / "Test")
    loads = []
    monkeypatch.setattr(sam_family, "load", lambda *a, **k: loads.append(a))
    other = [a if a != "2" else "3" for a in argv]  # --points-per-side 3
    with pytest.raises(OutputError) as err:
        evaluate.main([*other, "--output-dir", str(out), "--skip-existing"])
    message = str(err.value)
    assert f"--output-dir '{out / 'pred' / 'Test'}' holds maps made by" in message
    assert "differ in baseline settings" in message and "never mixes" in message
    assert '"points_per_side": 2' in message and '"points_per_side": 3' in message
    assert loads == [] and files(out / "pred" / "Test") == before


def test_the_checkpoint_is_hashed_once_per_run(argv, sam_file, tmp_path, monkeypatch) -> None:
    real, hashed = checkpoint_module.file_sha256, []
    monkeypatch.setattr(checkpoint_module, "file_sha256",
                        lambda path: hashed.append(Path(path).resolve()) or real(path))  # fmt: skip
    two = [a if a != "Test" else "Test,Train" for a in argv]
    run(two + ["--limit", "1"], tmp_path / "run")
    assert hashed.count(sam_file[0].resolve()) == 1


def test_records_a_killed_run_left_half_written_are_passed_over(tmp_path: Path) -> None:
    # The image of a torn line, or of a line made from other files, is predicted again.
    from pmgsam.baselines.resume import read_records

    sources = {"a": ["a-id"], "b": ["b-id"], "c": ["c-id"]}
    assert read_records(tmp_path, ["a"], sources) == {}  # no records file: nothing is kept
    a = {"name": "a", "source": ["a-id"], "masks": 2}
    b = {"name": "b", "source": ["an older b"], "masks": 1}
    lines = [json.dumps(a), json.dumps(b), '{"name": "c", "source": ["c-']
    (tmp_path / RECORDS).write_text("\n".join(lines))
    assert read_records(tmp_path, ["a", "b", "c"], sources) == {"a": a}
    assert read_records(tmp_path, ["b", "c"], sources) == {}


def test_maps_made_at_another_input_side_or_checkpoint_are_not_this_runs(tmp_path: Path) -> None:
    """The producer names the model input side and the checkpoint's SHA-256: maps made at
    --model-image-size 512 are not a 1024-px run's, nor those of another checkpoint."""
    from pmgsam.baselines.resume import baseline_producer
    from pmgsam.utils.map_producers import producer_changes

    weights = tmp_path / "sam.pth"
    settings = {"baseline": "sam-auto"}
    at_512 = baseline_producer(weights, "a" * 64, 512, settings)
    assert (at_512["image_size"], at_512["weights_sha256"]) == (512, "a" * 64)
    assert at_512["weights"] == str(weights.resolve()) and at_512["settings"] == settings
    assert producer_changes(at_512, baseline_producer(weights, "a" * 64, 512, settings)) == []
    assert producer_changes(at_512, baseline_producer(weights, "a" * 64, 1024, settings))
    assert producer_changes(at_512, baseline_producer(weights, "b" * 64, 512, settings))
