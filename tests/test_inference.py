"""Inference: folder prediction writes original-size PNGs equal to the model's probabilities."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import torch
from small_branches import use_small_branches

import pmgsam
from pmgsam.data import EvalTransform, unpad_and_resize
from pmgsam.data.io import DataError
from pmgsam.engine.inference import (
    ImageFolder,
    Predictor,
    main,
    write_probability_png,
)
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.checkpoint import resolve_weights, save_model
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.outputs import OutputError

S = 64
# The frozen Hiera is conftest's small one (small_branches for each command's build): the maps are
# compared with the model's own, whatever its size, and each command built Hiera-T's 27 M weights.
pytestmark = pytest.mark.usefixtures("small_branches")


@pytest.fixture(scope="module")
def weights(tmp_path_factory, small_tiny_model):
    model = small_tiny_model  # at S
    root = tmp_path_factory.mktemp("weights")
    torch.save({"model_state": model.hiera.trunk.state_dict()}, root / "hiera.pth")
    torch.save(model.u2net.state_dict(), root / "u2netp.pth")
    with pytest.MonkeyPatch.context() as mp:  # small_branches, for this module-scoped build
        use_small_branches(mp)
        model = pmgsam.build_model(
            model.config,
            hiera_checkpoint=str(root / "hiera.pth"),
            u2net_checkpoint=str(root / "u2netp.pth"),
        )
    path = save_model(model, root / "run" / "checkpoints" / "best" / "model.safetensors")
    return path, model.eval()


@pytest.fixture()
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "wide.jpg"), rng.integers(0, 255, (40, 90, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "tall.png"), rng.integers(0, 255, (120, 50), dtype=np.uint8))
    cv2.imwrite(str(folder / "img10.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "img2.png"), rng.integers(0, 255, (33, 31, 3), dtype=np.uint8))
    return folder


def test_predictions_match_model_at_original_size(weights, image_dir, tmp_path):
    path, model = weights
    dataset = ImageFolder(image_dir, S)
    assert dataset.names == ["img2", "img10", "tall", "wide"]  # natural order
    out = Predictor(model, "cpu").predict_dataset(dataset, tmp_path / "pred", batch_size=3)
    for name, image_path in zip(dataset.names, dataset.image_paths):
        written = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        original = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.uint8 and written.shape == original.shape[:2]
        sample = dataset[dataset.names.index(name)]
        with torch.no_grad():
            prob = torch.sigmoid(model(sample["image"][None])["mask"])[0, 0]
        expected = unpad_and_resize(prob, sample["orig_size"], S)
        expected = np.rint(expected.numpy() * 255).astype(np.uint8)
        assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1


def test_an_image_that_breaks_after_listing_stops_the_run_or_is_handed_on(
    weights, image_dir, tmp_path
):
    dataset = ImageFolder(image_dir, S)
    (image_dir / "wide.jpg").write_bytes(b"replaced after its header was read")
    predictor = Predictor(weights[1], "cpu")
    with pytest.raises(DataError, match=r"wide\.jpg"):  # no handler given: the run stops
        predictor.predict_dataset(dataset, tmp_path / "a", batch_size=2, progress=False)
    seen = []
    predictor.predict_dataset(
        dataset, tmp_path / "b", batch_size=2, progress=False,
        unreadable=lambda name, reason: seen.append((name, "wide.jpg" in reason)),
    )  # fmt: skip
    assert seen == [("wide", True)]
    assert sorted(p.name for p in (tmp_path / "b").glob("*.png")) == [
        "img10.png", "img2.png", "tall.png"
    ]  # fmt: skip


def test_cli_accepts_run_directory(weights, image_dir, tmp_path, capsys):
    path, _ = weights
    run_dir = path.parent.parent.parent
    assert resolve_weights(run_dir) == path
    main(["--checkpoint", str(run_dir), "--input", str(image_dir), "--out", str(tmp_path / "o")])
    assert "wrote 4 probability maps" in capsys.readouterr().out
    assert sorted(p.stem for p in (tmp_path / "o").glob("*.png")) == sorted(
        ["img2", "img10", "tall", "wide"]
    )


def test_cli_names_the_premask_folder(weights, image_dir, tmp_path, capsys):
    out, pre = tmp_path / "o", tmp_path / "pre"
    argv = ["--checkpoint", str(weights[0]), "--input", str(image_dir), "--out", str(out)]
    main([*argv, "--premask-out", str(pre), "--num-workers", "0"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    head = f"wrote 4 probability maps to {out} and their Pre-Mask maps to {pre} in "
    assert line.startswith(head)
    # The prediction's time and its pace: 4 maps over the seconds shown (to their rounding).
    seconds, rate = (
        float(v) for v in re.fullmatch(r"(\S+)s \((\S+) images/s\)", line[len(head) :]).groups()
    )
    assert 4 / (seconds + 0.05) <= rate <= 4 / max(seconds - 0.05, 1e-9)
    assert len(list(pre.glob("*.png"))) == 4


def test_bad_inputs(tmp_path, weights):
    with pytest.raises(CheckpointError, match="nope.safetensors"):
        resolve_weights(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="no PMG-SAM weights"):
        resolve_weights(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        ImageFolder(empty, S)
    with pytest.raises(ValueError, match="amp must be"):
        Predictor(weights[1], "cpu", amp="fp8")


def test_eval_transform_is_what_the_model_sees(weights):
    # A 2:1 image is resized to S×S/2 and padded: the padded half must be zeros.
    image = np.full((20, 40, 3), 255, np.uint8)
    sample = EvalTransform(S)(image)
    assert torch.all(sample["image"][:, : S // 2] == 1.0)
    assert torch.all(sample["image"][:, S // 2 :] == 0.0)


def _half_pixel_source(n_out: int, n_in: int) -> np.ndarray:
    """Source coordinate of each output pixel centre for a half-pixel (align_corners=False)
    resize of n_in pixels to n_out, clamped to the first/last source pixel."""
    return np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)


@pytest.mark.parametrize("orig", [(50, 90), (120, 50), (64, 64)])
def test_inverse_transform_on_coordinate_ramp(orig):
    # The S×S map holds, at each valid pixel, the original-image row (or column) its centre
    # came from; padding holds a sentinel that must never reach the output. Enlarging back to
    # the original size must then return each output pixel's own index (bilinear interpolation
    # of a linear function is exact), except at the clamped borders, which are derived here
    # by hand. align_corners=True, or resizing before cropping, moves values by up to ~0.5.
    height, width = orig
    long_side = max(orig)
    h, w = round(height * S / long_side), round(width * S / long_side)  # no .5 ties here
    rows = (np.arange(h) + 0.5) * height / h - 0.5
    cols = (np.arange(w) + 0.5) * width / w - 0.5
    ramp = torch.full((2, S, S), 1e6, dtype=torch.float64)
    ramp[0, :h, :w] = torch.from_numpy(np.repeat(rows[:, None], w, 1))
    ramp[1, :h, :w] = torch.from_numpy(np.repeat(cols[None, :], h, 0))
    out = unpad_and_resize(ramp.float(), [height, width], S).double().numpy()
    assert out.shape == (2, height, width)
    exp_rows = (_half_pixel_source(height, h) + 0.5) * height / h - 0.5
    exp_cols = (_half_pixel_source(width, w) + 0.5) * width / w - 0.5
    assert np.abs(out[0] - exp_rows[:, None]).max() < 1e-4
    assert np.abs(out[1] - exp_cols[None, :]).max() < 1e-4


def test_inverse_transform_shrinking_matches_pil():
    # 30×20 is enlarged to 64×43 and shrunk back with an antialiasing filter: PIL's BILINEAR
    # reduction of the cropped valid region is the independent reference (align_corners=True
    # differs from it by ~0.5, a crop taken after resizing by far more: the sentinel).
    from PIL import Image

    height, width = 30, 20
    h, w = 64, 43  # round(20 * 64 / 30) = round(42.67)
    rows = (np.arange(h) + 0.5) * height / h - 0.5
    valid = np.repeat(rows[:, None], w, 1).astype(np.float32)
    ramp = torch.full((S, S), 1e6)
    ramp[:h, :w] = torch.from_numpy(valid)
    out = unpad_and_resize(ramp, [height, width], S).numpy()
    pil = np.asarray(Image.fromarray(valid, mode="F").resize((width, height), Image.BILINEAR))
    assert np.abs(out - pil).max() < 1e-4
    # Away from the borders the ramp comes back as each row's own index.
    assert np.abs(out[3:-3] - np.arange(3, height - 3)[:, None]).max() < 0.05


def test_forward_transform_geometry_on_ramp_images():
    # Enlarging (8×4 → 64×32): cv2's INTER_LINEAR samples the ramp at half-pixel source
    # coordinates; the expectation is the ramp evaluated there (uint8 rounding: 1 level).
    height, width = 8, 4
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = (30 * np.arange(height))[:, None]
    image[..., 1] = (60 * np.arange(width))[None, :]
    sample = EvalTransform(S)(image)
    img = sample["image"].double().numpy() * 255
    h, w = 64, 32
    exp_rows = 30 * _half_pixel_source(h, height)
    exp_cols = 60 * _half_pixel_source(w, width)
    assert np.abs(img[0, :h, :w] - exp_rows[:, None]).max() <= 1.0
    assert np.abs(img[1, :h, :w] - exp_cols[None, :]).max() <= 1.0
    assert np.all(img[:, h:, :] == 0) and np.all(img[:, :, w:] == 0)

    # Shrinking by exactly 2 (128×64 → 64×32): INTER_AREA is the mean of each 2×2 block.
    big = np.zeros((128, 64, 3), np.uint8)
    big[..., 0] = (2 * np.arange(128))[:, None]
    big[..., 2] = (4 * np.arange(64))[None, :]
    img = EvalTransform(S)(big)["image"].double().numpy() * 255
    blocks = big.astype(np.float64).reshape(64, 2, 32, 2, 3).mean(axis=(1, 3))
    assert np.abs(img[:, :, :32] - blocks.transpose(2, 0, 1)).max() < 1e-3
    assert np.all(img[:, :, 32:] == 0)

    # Short side rounds half up: 4×1 at S=10 gives 10×3 (2.5 → 3), not 10×2.
    valid = EvalTransform(10)(np.full((4, 1, 3), 255, np.uint8))["image"][0]
    assert torch.all(valid[:, :3] == 1.0) and torch.all(valid[:, 3:] == 0.0)


def test_probability_png_levels_equal_numpy_rounding(tmp_path):
    # Every float32 level boundary k + 0.5 (ties round to even) and values outside [0, 1].
    k = np.arange(256, dtype=np.float32)
    values = np.concatenate([k / 255, (k + 0.5) / 255, np.float32([-0.2, 1.3])]).astype(np.float32)
    prob = torch.from_numpy(values.reshape(1, -1))
    path = tmp_path / "p.png"
    write_probability_png(prob, path)
    expected = np.rint(np.clip(values, 0, 1) * np.float32(255.0)).astype(np.uint8)
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[0], expected)


def test_cli_checkpoint_error_leaves_no_output_folders(image_dir, tmp_path):
    out, pre = tmp_path / "pred", tmp_path / "pre"
    argv = ["--checkpoint", str(tmp_path / "nope.safetensors"), "--input", str(image_dir)]
    with pytest.raises(CheckpointError, match="nope.safetensors"):
        main([*argv, "--out", str(out), "--premask-out", str(pre)])
    assert not out.exists() and not pre.exists()


@pytest.mark.parametrize("prefix", ["model.", ""])
def test_cli_takes_frozen_weight_overrides_as_train_does(weights, image_dir, tmp_path, prefix):
    path, _ = weights
    argv = ["--checkpoint", str(path), "--input", str(image_dir), "--num-workers", "0"]
    missing = tmp_path / "gone" / "u2netp.pth"
    with pytest.raises(CheckpointError, match="gone"):  # the override is applied, not ignored
        main([*argv, "--out", str(tmp_path / "a"), f"{prefix}u2net_checkpoint={missing}"])
    moved = tmp_path / "moved.pth"
    moved.write_bytes((path.parents[3] / "u2netp.pth").read_bytes())
    main([*argv, "--out", str(tmp_path / "b"), f"{prefix}u2net_checkpoint={moved}"])
    assert len(list((tmp_path / "b").glob("*.png"))) == 4


def test_cli_predicts_a_single_image_file(weights, image_dir, tmp_path, capsys):
    path, model = weights
    argv = ["--checkpoint", str(path), "--num-workers", "0", "--input"]
    out = tmp_path / "one"
    main([*argv, str(image_dir / "tall.png"), "--out", str(out)])
    assert sorted(p.name for p in out.glob("*.png")) == ["tall.png"]
    assert f"wrote 1 probability map to {out}" in capsys.readouterr().out
    # The same map as predicting the whole folder.
    main([*argv, str(image_dir), "--out", str(tmp_path / "all")])
    assert (out / "tall.png").read_bytes() == (tmp_path / "all" / "tall.png").read_bytes()
    # The photo's own folder is an input folder: maps are never written among its images.
    with pytest.raises(OutputError, match="input folder"):
        main([*argv, str(image_dir / "tall.png"), "--out", str(image_dir), "--overwrite"])


def test_cli_refuses_overrides_of_other_sections(weights, image_dir, tmp_path, capsys):
    # data.root=... used to say "unknown model config key(s) ['data']".
    from pmgsam.utils.cli import exit_status

    path, _ = weights
    argv = ["--checkpoint", path, "--input", image_dir, "--out", tmp_path / "o", "data.root=/x"]
    assert exit_status(main, argv) == 2
    err = capsys.readouterr().err
    assert "data.root=/x: inference takes model.* overrides" in err
    assert "performance.* ones (speed options) only" in err
    assert not (tmp_path / "o").exists()


def test_cli_takes_speed_options_as_performance_overrides(
    weights, image_dir, tmp_path, monkeypatch
):
    # Predicting thousands of images on a GPU wants the speed options a training config holds
    # (CUDA graphs, channels-last, compile): each performance.<field>=value reaches the
    # Predictor, the others keep the package defaults, and the maps differ by rounding only.
    import pmgsam.engine.inference as inference

    path, _ = weights
    given = []
    original = inference.Predictor.__init__

    def spy(self, *args, performance=None, **kwargs):
        given.append(performance)
        original(self, *args, performance=performance, **kwargs)

    monkeypatch.setattr(inference.Predictor, "__init__", spy)
    argv = ["--checkpoint", str(path), "--num-workers", "0", "--input", str(image_dir)]
    main([*argv, "--out", str(tmp_path / "plain")])
    main([*argv, "--out", str(tmp_path / "fast"), "performance.channels_last=true",
          "performance.bf16_group_norm=true"])  # fmt: skip
    assert given == [
        PerformanceConfig(),
        PerformanceConfig(channels_last=True, bf16_group_norm=True),
    ]
    for plain in sorted((tmp_path / "plain").glob("*.png")):
        a = cv2.imread(str(plain), cv2.IMREAD_UNCHANGED).astype(int)
        b = cv2.imread(str(tmp_path / "fast" / plain.name), cv2.IMREAD_UNCHANGED).astype(int)
        assert np.abs(a - b).max() <= 1, plain.name


@pytest.mark.parametrize(
    "override, named",
    [
        ("performance.cuda_graph=true", "performance.cuda_graph"),  # a misspelt field
        ("performance.channels_last=maybe", "performance.channels_last"),
    ],
)
def test_cli_refuses_a_bad_speed_option_naming_it(
    weights, image_dir, tmp_path, capsys, override, named
):
    from pmgsam.utils.cli import exit_status

    path, _ = weights
    argv = ["--checkpoint", path, "--input", image_dir, "--out", tmp_path / "o", override]
    assert exit_status(main, argv) != 0
    assert named in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
