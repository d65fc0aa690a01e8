"""A map the tool wrote and the user then edited in place (a hand-corrected figure, a GT
bootstrapped from it) is the user's file: a rerun into the folder, with or without
``--skip-existing``, is refused naming it and leaves it as it is; ``--overwrite`` replaces it.
A map the user deleted is just predicted again, an untouched folder reruns as before, and a
manifest of an older pmgsam (no identities) vouches for every map as before. Inference (tiny
model), benchmark prediction (``predict_split``), a baseline (stand-ins) and the function."""

from __future__ import annotations

import copy
import json
import shutil
import warnings
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from map_cases import infer, replace_by_hand, write_images
from test_baseline_runner import BoxStandIn, Stand, rect

from pmgsam.baselines.runner import run_baseline
from pmgsam.engine import inference
from pmgsam.engine.inference import predict_split
from pmgsam.utils.outputs import (
    IDENTITIES,
    MANIFEST,
    OutputError,
    prepare_output_dir,
    read_manifest,
    settle_output_dir,
)

EDITED = "changed since pmgsam wrote them"
pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Three input images for the module; read-only."""
    return write_images(tmp_path_factory.mktemp("edited") / "images", 2, (20, 36), (4, -2))


def digest(folder: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def finished(checkpoints, images, tmp_path_factory, one_thread_module) -> Path:
    """One finished inference run of weights "one" over :func:`images`, made once for the
    module (on one thread, as the tests' reruns); tests take copies (:func:`straight`)."""
    models = {str(path): model for path, model in checkpoints.values()}
    out = tmp_path_factory.mktemp("finished") / "pred"
    with pytest.MonkeyPatch.context() as mp:  # as conftest's weights, for this module-wide run
        mp.setattr(inference, "load_pretrained", lambda p, **kw: copy.deepcopy(models[str(p)]))
        assert infer(checkpoints["one"][0], images, out)[0] == 0
    return out


@pytest.fixture
def straight(finished, tmp_path) -> Tuple[Path, Dict[str, bytes]]:
    """A folder a finished inference run wrote, and its maps: a copy of :func:`finished` with
    its files' modification times (the manifest's identities), which the test may change."""
    out = shutil.copytree(finished, tmp_path / "pred")
    return out, digest(out)


@pytest.mark.parametrize("extra", [(), ("--skip-existing",)])
def test_an_edited_map_is_refused_naming_it_and_left_as_edited(
    weights, images, straight, extra, capsys
) -> None:
    out, maps = straight
    edited = replace_by_hand(out / "b.png")
    manifest = (out / MANIFEST).read_bytes()
    capsys.readouterr()
    assert infer(weights["one"], images, out, *extra)[0] == 2
    err = capsys.readouterr().err
    assert f"--out '{out}' holds 1 map(s) {EDITED} (b.png)" in err
    assert "--overwrite" in err and "Move them out" in err
    assert digest(out) == {**maps, "b.png": edited}  # nothing written, the edit kept
    assert (out / MANIFEST).read_bytes() == manifest


def test_overwrite_replaces_an_edited_map_and_the_next_rerun_needs_nothing(
    weights, images, straight
) -> None:
    out, maps = straight
    replace_by_hand(out / "b.png")
    code, said = infer(weights["one"], images, out, "--overwrite")
    assert code == 0 and not [s for s in said if EDITED in s]
    assert digest(out) == maps
    assert infer(weights["one"], images, out)[0] == 0  # the new map is recorded as the tool's


def test_skip_existing_with_overwrite_predicts_an_edited_map_again(
    weights, images, straight
) -> None:
    out, maps = straight
    replace_by_hand(out / "c.png")
    code, said = infer(weights["one"], images, out, "--skip-existing", "--overwrite")
    assert code == 0 and [s for s in said if EDITED in s and "(c.png)" in s]
    assert digest(out) == maps


def test_a_deleted_map_is_predicted_again_without_overwrite(weights, images, straight) -> None:
    out, maps = straight
    (out / "a.png").unlink()
    assert infer(weights["one"], images, out)[0] == 0
    assert digest(out) == maps


def test_an_untouched_folder_reruns_as_before(weights, images, straight) -> None:
    out, maps = straight
    for name in ("b.png", "c.png"):
        (out / name).write_bytes(b"stale")  # to see the rerun write them
    settle_output_dir(out, ["b.png", "c.png"])  # recorded as the tool's: untouched since
    code, said = infer(weights["one"], images, out)
    assert code == 0 and not [s for s in said if EDITED in s]
    assert digest(out) == maps


def test_a_manifest_without_identities_reruns_over_an_edited_map_as_before(
    weights, images, straight
) -> None:
    out, maps = straight
    record = read_manifest(out)
    del record[IDENTITIES]  # as a pmgsam before them wrote it
    (out / MANIFEST).write_text(json.dumps(record, indent=0) + "\n")
    replace_by_hand(out / "b.png")
    assert infer(weights["one"], images, out)[0] == 0
    assert digest(out) == maps


def test_an_edited_premask_map_is_refused_naming_premask_out(
    weights, images, tmp_path, capsys
) -> None:
    out, pre = tmp_path / "pred", tmp_path / "pre"
    assert infer(weights["one"], images, out, "--premask-out", pre)[0] == 0
    edited = replace_by_hand(pre / "a.png")
    assert infer(weights["one"], images, out, "--premask-out", pre)[0] == 2
    assert f"--premask-out '{pre}' holds 1 map(s) {EDITED} (a.png)" in capsys.readouterr().err
    assert (pre / "a.png").read_bytes() == edited


def test_benchmark_prediction_refuses_an_edited_map(
    weights, dis5k_root, data_config, tmp_path
) -> None:
    from pmgsam.data import build_dataset
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.utils.config import from_dict, to_dict

    data = data_config("dis5k", dis5k_root)
    names = [f"{n}.png" for n in build_dataset(data, "DIS-TE1", 64, train=False).names]
    out = settled(tmp_path / "pred", names)
    edited = replace_by_hand(out / names[1])
    exp = from_dict(ExperimentConfig, {"data": to_dict(data)})
    for skip in (False, True):
        with pytest.raises(OutputError, match=rf"--output-dir .* 1 map\(s\) {EDITED}"):
            predict_split(exp, weights["one"], "DIS-TE1", out, device="cpu",
                          skip_existing=skip, option="--output-dir")  # fmt: skip
        assert (out / names[1]).read_bytes() == edited


@pytest.mark.parametrize("skip_existing", [False, True])
def test_a_baseline_refuses_an_edited_map_before_predicting(tmp_path, skip_existing) -> None:
    gts = {"a": rect(2, 5, 3, 9), "b": rect(1, 3, 1, 4)}
    producer = {"weights": "w", "weights_sha256": "0" * 64, "frozen_sha256": None,
                "image_size": 64, "amp": "none", "maps": "final", "settings": {"x": 1}}  # fmt: skip
    data, pred = Stand(tmp_path / "data", gts), tmp_path / "run" / "pred" / "S"
    kwargs = dict(progress=False, producer=producer, timing=False)
    run_baseline(BoxStandIn(), data, tmp_path / "run", "S", **kwargs)
    edited = replace_by_hand(pred / "a.png")
    baseline = BoxStandIn()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # refused, not "predicted again"
        with pytest.raises(OutputError, match=rf"--output-dir .* 1 map\(s\) {EDITED} \(a\.png"):
            run_baseline(baseline, data, tmp_path / "run", "S", skip_existing=skip_existing,
                         **kwargs)  # fmt: skip
    assert baseline.calls == [] and (pred / "a.png").read_bytes() == edited


def settled(out: Path, names: List[str]) -> Path:
    """``out`` as a finished run leaves it: ``names`` written and recorded."""
    prepare_output_dir(out, names)
    for name in names:
        (out / name).write_bytes(b"map " + name.encode())
    settle_output_dir(out, names)
    return out


def test_the_function_refuses_edited_maps_and_names_which_would_be_replaced(tmp_path) -> None:
    out = settled(tmp_path / "pred", ["a.png", "b.png", "c.png"])
    replace_by_hand(out / "a.png")
    replace_by_hand(out / "c.png")
    (out / "b.png").unlink()
    with pytest.raises(OutputError, match=r"2 map\(s\) changed .*\(a\.png, c\.png\).* 1 of them "
                       r"would be replaced \(a\.png\)"):  # fmt: skip
        prepare_output_dir(out, ["a.png", "b.png"])
    # Another file of the user's is named first; the edited maps are named too.
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"did not write \(notes\.txt\).*also holds 2 map"):
        prepare_output_dir(out, ["b.png"])
    with pytest.warns(UserWarning, match=r"earlier run .* \(c\.png\)"):
        prepare_output_dir(out, ["a.png", "b.png"], overwrite=True)
    again = settled(tmp_path / "again", ["a.png", "b.png"])
    (again / "a.png").unlink()
    prepare_output_dir(again, ["a.png", "b.png"])  # a deleted map: no refusal
