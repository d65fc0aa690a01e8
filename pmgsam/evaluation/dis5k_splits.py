"""The DIS5K split names, kept importable from here: they live in
:mod:`pmgsam.data.dis5k_splits`, beside the dataset whose folders they name."""

from __future__ import annotations

from pmgsam.data.dis5k_splits import ALL_TE_NAME, DIS5K_TEST_SPLITS, DIS5K_VAL, TE_PARTS

__all__ = ["ALL_TE_NAME", "DIS5K_TEST_SPLITS", "DIS5K_VAL", "TE_PARTS"]
