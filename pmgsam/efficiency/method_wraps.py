"""A module's method wrapped for the length of a ``with`` block: how the FLOP counts, the
traffic count and ``benchmarks/component_times.py`` see each component's calls."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from torch import nn


@contextmanager
def wrapped_method(
    module: Optional[nn.Module], method: str, around: Callable[..., Any]
) -> Iterator[None]:
    """Inside the block every ``module.<method>(*args, **kwargs)`` call runs
    ``around(original, *args, **kwargs)`` instead; nothing is wrapped when ``module`` is None.

    A method, not a forward hook: U²-Net's branch is entered through ``features``, which no
    hook sees. The wrapper is an instance attribute, deleted afterwards, so the class's method
    shows through again.
    """
    if module is None:
        yield
        return
    original = getattr(module, method)

    def call(*args: Any, **kwargs: Any) -> Any:
        return around(original, *args, **kwargs)

    setattr(module, method, call)
    try:
        yield
    finally:
        delattr(module, method)
