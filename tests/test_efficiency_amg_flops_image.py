"""The compared generator's ``flops_per_image`` counts one ``generate`` of one image: counting
the whole batch's would report a batch of B as B times the FLOPs per image."""

from __future__ import annotations

from typing import Callable, List

import numpy as np
import torch

import pmgsam.baselines.base as base
import pmgsam.efficiency.flops as flops
import pmgsam.efficiency.timing as timing


def test_generator_flops_count_one_generate_of_the_first_image(monkeypatch) -> None:
    generated: List[np.ndarray] = []
    counted: List[List[np.ndarray]] = []

    class Model(torch.nn.Module):
        image_encoder = None

    class Generator:
        def generate(self, array: np.ndarray) -> List[dict]:
            generated.append(array)
            return []

    class Family:
        @staticmethod
        def build(model_type: str) -> torch.nn.Module:
            return Model()

        @staticmethod
        def generator(model: torch.nn.Module, options: dict) -> Generator:
            return Generator()

    def count_call_flops(call: Callable[[], None], encoder) -> dict:
        start = len(generated)
        call()
        counted.append(generated[start:])
        return {"total": 5.0 * len(generated[start:])}  # 5 FLOPs per generate

    monkeypatch.setattr(base, "family", lambda name: Family)
    monkeypatch.setattr(flops, "count_call_flops", count_call_flops)
    images = torch.zeros(3, 3, 2, 2)
    images[0] = 1.0  # the first image is told apart from the other two by its value
    r = timing.measure_amg("sam_vit_b", images, iters=1, warmup=0, points_per_side=2)
    assert len(counted) == 1 and len(counted[0]) == 1
    assert (counted[0][0] == 255).all()
    assert r["flops_per_image"] == {"total": 5.0}
    assert len(generated) == 1 + 3  # the counted call, then one timed pass over the batch


def test_generator_timing_shows_its_progress_bar(monkeypatch, capsys) -> None:
    # A CPU pass of a generator takes minutes: the label asked for must reach the bar.
    class Generator:
        def generate(self, array: np.ndarray) -> List[dict]:
            return []

    class Model(torch.nn.Module):
        image_encoder = None

    class Family:
        build = staticmethod(lambda model_type: Model())
        generator = staticmethod(lambda model, options: Generator())

    monkeypatch.setattr(base, "family", lambda name: Family)
    monkeypatch.setattr(flops, "count_call_flops", lambda call, encoder: call() or {"total": 0.0})
    timing.measure_amg("sam_vit_b", torch.zeros(1, 3, 2, 2), 2, 1, 2, progress="timing amg")
    err = capsys.readouterr().err
    assert "timing amg" in err and "3/3" in err  # one warm-up and two timed passes
