"""Efficiency CLI: report fields and the run.json hand-off to the tables."""

from __future__ import annotations

import json

import pytest
import torch
from stand_in_models import ConvBranch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from pmgsam.efficiency import count_flops, count_parameters, main
from pmgsam.modeling.build import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(small_tiny_model: torch.nn.Module) -> torch.nn.Module:
    """pmgsam_tiny at 64 px with conftest's small Hiera (one block per stage: both its
    mask-unit and its global attention stages are there), built once for the module's FLOP
    counts, which only read it (counting leaves the model as it was). What these tests check,
    attribution and the fused attention's count, does not depend on Hiera-T's depth, whose
    build and counts took seconds."""
    return small_tiny_model.eval()


def math_attention():
    """Attention as plain matmuls, which torch's own FLOP counter counts."""
    return sdpa_kernel(SDPBackend.MATH)


class _Branch(torch.nn.Module):
    """Entered through ``features`` like U²-Net, never through ``forward``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _Toy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.u2net = _Branch().requires_grad_(False)
        self.head = torch.nn.Conv2d(8, 4, 1)
        self.root_weight = torch.nn.Parameter(torch.randn(2, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(self.u2net.features(x))  # (B, 4, 16, 16)
        return y.flatten(2).transpose(1, 2) @ self.root_weight.T  # counted at the root only


def test_flops_per_component_counted_not_inferred():
    # By hand, one multiply-add = 2 FLOPs (bias adds are not counted):
    # 3×3 conv 3→8 on 16×16: 2·8·16·16·3·9; 1×1 conv 8→4: 2·4·16·16·8;
    # (256×4) @ (4×2) per image: 2·256·4·2.
    flops = count_flops(_Toy(), torch.rand(2, 3, 16, 16))
    assert flops["components"]["u2net"] == 2 * 8 * 16 * 16 * 3 * 9
    assert flops["components"]["head"] == 2 * 4 * 16 * 16 * 8
    assert flops["components"]["other"] == 2 * 256 * 4 * 2
    assert flops["total"] == 2 * 8 * 16 * 16 * 27 + 2 * 4 * 256 * 8 + 2 * 256 * 8
    assert flops["frozen"] == flops["components"]["u2net"]
    # The wrapper is gone afterwards: the class method is back.
    toy = _Toy()
    count_flops(toy, torch.rand(1, 3, 16, 16))
    assert "features" not in vars(toy.u2net)


def test_parameter_counts_by_hand():
    toy = _Toy()
    # conv 3→8 3×3: 8·3·9 + 8 = 224 (frozen); conv 8→4 1×1: 4·8 + 4 = 36; root 2·4 = 8.
    assert count_parameters(toy) == {"total": 268, "trainable": 44, "frozen": 224}


def test_tiny_model_u2net_flops_equal_a_direct_count(tiny):
    model = tiny
    images = torch.rand(1, 3, 64, 64)
    flops = count_flops(model, images)
    with torch.no_grad(), FlopCounterMode(display=False) as direct:
        model.u2net.features(model.u2net_norm(images))
    assert flops["components"]["u2net"] == direct.get_total_flops() > 0
    # U²-Net†'s first convolution alone (3→64, 3×3 at 64×64) is a lower bound.
    assert flops["components"]["u2net"] > 2 * 64 * 64 * 64 * 3 * 9
    assert "other" not in flops["components"]  # every FLOP of the tiny model is attributed
    assert sum(flops["components"].values()) == flops["total"]


def test_fused_attention_is_counted_on_the_cpu(tiny):
    # 4-D attention takes the CPU's fused kernel, which torch's own counter scores 0; by hand
    # it is two batched matmuls, Q·Kᵀ and A·V, of 2·h·S·S·d FLOPs each per image (h=3, S=10,
    # d=8).
    flops = count_flops(_Attention(), torch.rand(2, 3, 10, 8))
    assert flops["total"] == 2 * (2 * 3 * 10 * 10 * 8)
    model = tiny
    images = torch.rand(1, 3, 64, 64)
    fused = count_flops(model, images)["components"]
    with math_attention():
        math = count_flops(model, images)["components"]
    assert fused["hiera"] == math["hiera"] and fused["decoder"] == math["decoder"]


class _Attention(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.scaled_dot_product_attention(x, x.flip(2), x.flip(3))


def test_compare_times_the_sam2_generator_on_the_same_images(
    tiny, small_branches, tmp_path, capsys, monkeypatch
):
    # The compared generator must be SAM2's own, fed each timed image at the grid asked for.
    # PMG-SAM's side is only the reference the speed-up is taken against: the report builds
    # it with the small Hiera of the module's ``tiny`` (small_branches).
    pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    seen = []
    original = SAM2AutomaticMaskGenerator.generate

    def generate(self, image):
        seen.append((image.shape, len(self.point_grids[0])))
        return original(self, image)

    monkeypatch.setattr(SAM2AutomaticMaskGenerator, "generate", generate)
    # measure_amg encodes the image twice at 1024² (its FLOP count, then the one timed call),
    # about ten seconds each on a CPU. Nothing here reads the features' values, only the
    # encoder's FLOPs, which the counter takes from shapes: the encoder runs once, moved in
    # place to the meta device (the generator's own module, so that hooks and counters on it
    # and its parts still see the pass), and the generator decodes seeded random features of
    # its output's shapes.
    from sam2.modeling.backbones.image_encoder import ImageEncoder

    encode, asked, encoded = ImageEncoder.forward, [], []  # encoded: (input, features)

    def on_meta(self, sample):
        shapes = encode(self.to("meta"), sample.to("meta"))
        rng = torch.Generator().manual_seed(0)
        features = lambda t: torch.rand(t.shape, generator=rng, dtype=t.dtype)  # noqa: E731
        return {
            k: [features(t) for t in v] if isinstance(v, list) else features(v)
            for k, v in shapes.items()
        }

    def encode_once(self, sample):
        asked.append(tuple(sample.shape))
        if not encoded or not torch.equal(sample, encoded[-1][0]):
            encoded.append((sample.clone(), on_meta(self, sample)))
        # forward_image replaces entries of the feature lists: copies of the lists, not tensors
        return {k: list(v) if isinstance(v, list) else v for k, v in encoded[-1][1].items()}

    monkeypatch.setattr(ImageEncoder, "forward", encode_once)
    out = tmp_path / "eff.json"
    main(
        ["--model", "pmgsam_tiny", "--size", "64", "--iters", "2", "--warmup", "0",
         "--device", "cpu", "--json", str(out), "--compare", "sam2_tiny",
         "--sam-points-per-side", "2"]
    )  # fmt: skip
    ours, amg = json.loads(out.read_text())
    assert (ours["mode"], amg["mode"], amg["model"]) == ("inference", "sam_amg", "sam2_tiny")
    assert "SAM2AutomaticMaskGenerator defaults but 2² points" in amg["note"]
    assert seen and all(s == ((64, 64, 3), 4) for s in seen)  # 64x64 image, 2x2 prompts
    assert asked == [(1, 3, 1024, 1024)] * 2 and len(encoded) == 1
    monkeypatch.setattr(ImageEncoder, "forward", encode)
    ratio = ours["images_per_s"] / amg["images_per_s"]
    printed = capsys.readouterr().out
    assert f"speed-up vs sam2_tiny automatic mask generator: {ratio:.1f}x" in printed
    # FLOPs side by side: the generator's image encoder as torch counts it alone (SAM2 resizes
    # every image to 1024), and a decoder share on top of it for the 4 prompts.
    from pmgsam.baselines import sam2 as sam2_family
    from pmgsam.baselines.sam import parameters_on_meta

    # On the meta device: the counter counts shapes, not values, and a real 1024² pass costs
    # seconds on a CPU; built there too (a random initialisation of its weights took seconds).
    with parameters_on_meta():
        encoder = sam2_family.build("tiny", device="meta").image_encoder.eval()
    # The math attention decomposes into matmuls torch's own counter knows (its count of the
    # CPU's fused kernel is 0).
    with torch.inference_mode(), math_attention(), FlopCounterMode(display=False) as direct:
        encoder(torch.rand(1, 3, 1024, 1024, device="meta"))
    assert amg["encoder_flops_per_image"] == direct.get_total_flops() > 0
    assert amg["flops_per_image"] > amg["encoder_flops_per_image"]
    assert ours["flops_per_image"] == count_flops(tiny, torch.rand(1, 3, 64, 64))["total"]
    fewer = amg["flops_per_image"] / ours["flops_per_image"]
    sizes = "at different input sizes: pmgsam_tiny S=64, sam2_tiny 1024 px"
    assert f"({fewer:.1f}x fewer, {sizes})" in printed
    assert (amg["image_size"], amg["timed_image_size"]) == (1024, [64, 64])


def test_compare_frees_pmgsam_before_timing_the_generator(monkeypatch, small_branches):
    # The generator's peak memory (CUDA) must not include PMG-SAM's weights: the model is
    # gone when the generator is measured (whatever its Hiera: the small one builds fast).
    import weakref

    from pmgsam.efficiency import report as report_mod

    built = []

    def build(*args, **kwargs):
        model = build_model(*args, **kwargs)
        built.append(weakref.ref(model))
        return model

    def amg(name, images, **kwargs):
        assert built and built[0]() is None, "PMG-SAM is still allocated"
        speed = {"latency_ms_median": 1.0, "images_per_s": 1.0, "first_call_ms": 1.0}
        speed.update(peak_memory_mb=None, peak_reserved_mb=None)
        return {**speed, "flops_per_image": {"total": 1.0, "image_encoder": 0.5}, "masks_kept": 0}

    monkeypatch.setattr(report_mod, "build_model", build)
    monkeypatch.setattr(report_mod, "measure_amg", amg)
    report = report_mod.efficiency_report(
        "pmgsam_tiny", size=64, iters=1, warmup=0, compare="sam_vit_b"
    )
    assert [r["mode"] for r in report["records"]] == ["inference", "sam_amg"]


class _TwoCalls(torch.nn.Module):
    """The frozen branch (named like U²-Net) is entered twice per forward."""

    def __init__(self) -> None:
        super().__init__()
        self.u2net = ConvBranch(8).requires_grad_(False)
        self.head = torch.nn.Conv2d(8, 4, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.u2net.features(x) + self.u2net.features(x.flip(-1)))


def test_flops_of_a_branch_called_twice_add_up_and_the_ratio_is_trainable_over_frozen():
    # By hand (one multiply-add = 2 FLOPs, 16x16 input, per image):
    # u2net: two 3x3 convs 3->8: 2 * (2 * 8 * 256 * 27) = 221184;
    # head: one 1x1 conv 8->4: 2 * 4 * 256 * 8 = 16384.
    flops = count_flops(_TwoCalls(), torch.rand(2, 3, 16, 16))
    u2net, head = 2 * (2 * 8 * 256 * 27), 2 * 4 * 256 * 8
    assert flops["components"]["u2net"] == u2net
    assert flops["components"]["head"] == head
    assert flops["total"] == u2net + head
    assert flops["frozen"] == u2net and flops["trainable"] == head
    assert flops["trainable_over_frozen"] == pytest.approx(head / u2net)  # 16384 / 221184
