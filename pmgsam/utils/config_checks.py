"""Value checks the config dataclasses run in ``__post_init__``: each raises a
:class:`~pmgsam.utils.config_files.ConfigError` naming the dotted key (also importable from
:mod:`pmgsam.utils.config`)."""

from __future__ import annotations

import math
from typing import Optional

from pmgsam.utils.config_files import ConfigError

# torch.manual_seed takes at most 2**64 - 1; the trainer adds per-epoch and per-rank offsets to
# the seed, so a bound of 2**63 - 1 keeps every derived seed in range.
SEED_MAX = 2**63 - 1


def check_positive(
    key: str, value: float, allow_zero: bool = False, at_most: Optional[float] = None
) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``value`` is a finite number > 0
    (``>= 0`` with ``allow_zero``) and, given ``at_most``, no larger than it.

    Validators call this before any arithmetic with the value (a zero divisor, a NaN that
    compares false with every bound, an infinite learning rate).
    """
    # math.isfinite would overflow on a huge int; only floats can be NaN or infinite.
    finite = not isinstance(value, float) or math.isfinite(value)
    if not finite or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        kind = "a finite number " if isinstance(value, float) else ""
        raise ConfigError(f"config key '{key}' must be {kind}{bound}, got {value}")
    if at_most is not None and value > at_most:
        raise ConfigError(f"config key '{key}' must be at most {at_most:g}, got {value}")


def check_seed(key: str, value: int) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``value`` is a seed in 0..SEED_MAX."""
    if not 0 <= value <= SEED_MAX:
        raise ConfigError(f"config key '{key}' must be a seed in 0..2**63-1, got {value}")
