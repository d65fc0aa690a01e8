"""argparse types and the parser class of every command: numbers in range, device names,
comma-separated names, and options refused empty or blank (:class:`NonEmpty`, checked by
:class:`CommandParser`, as a shell passes '' for an unset variable). Imported through
:mod:`pmgsam.utils.cli`, beside the error handling of the commands."""

from __future__ import annotations

import argparse
import math
import re
from typing import Any, Callable, List, Optional, Sequence


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (batch sizes, counts)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer of at least 0 (DataLoader workers: 0 loads in-process)."""
    return _int_at_least(text, 0)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):  # float() accepts 'nan' and 'inf', which no option means
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def probability(text: str) -> float:
    """argparse type: a number in [0, 1] (thresholds on probabilities and IoUs)."""
    value = _finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value:g}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (sizes in inches, scales)."""
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value:g}")
    return value


# The devices the commands run on. torch.device() parses more (meta, mps, xla, ...), which then
# fail deep inside a model or time nothing; cuda:N's N is checked against the GPUs by
# pmgsam.engine.distributed.resolve_device.
_DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")
DEVICE_NAMES = "auto, cpu, cuda or cuda:N"


def is_device_name(text: str) -> bool:
    """``text`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (N a GPU index)."""
    return _DEVICE.fullmatch(text) is not None


def device_name(text: str) -> str:
    """argparse type: a device name (:func:`is_device_name`); CUDA is checked when resolved."""
    if not is_device_name(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device (use {DEVICE_NAMES})")
    return text


def name_list(text: str) -> List[str]:
    """argparse type: comma-separated names (``--splits A,B``), at least one and none twice.

    An empty list would run nothing yet write its (empty) results; a name given twice would be
    computed twice into the same files.
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no name in {text!r} (expected A,B,...)")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"{', '.join(twice)} given more than once in {text!r}")
    return names


class NonEmpty:
    """argparse type of an option that names something (a path, split, method or model): the
    text as given, or ``convert``'s value of it. :class:`CommandParser` refuses it empty or
    blank, naming the option: a shell passes '' for an unset variable (``--out "$OUT"``), which
    a command would read as not given, or as '.', the current folder (and a table would show a
    row or column without a name).

    Arguments:
      what: what to give instead, with its article (``"a run folder"``).
      convert: the option's own type (e.g. :func:`name_list`), applied to a text not blank.
      needed_in: the modes of a command that need the option (``"DIS scoring"``); the refusal
        names them and says to leave the option out in the other modes only.
    """

    def __init__(
        self,
        what: str,
        convert: Optional[Callable[[str], Any]] = None,
        needed_in: Sequence[str] = (),
    ) -> None:
        self.what = what
        self.convert = convert
        self.needed_in = tuple(needed_in)
        # argparse names a type by it in "invalid <type> value" errors.
        self.__name__ = getattr(convert, "__name__", "text")

    def __call__(self, text: str) -> Any:
        return self.convert(text) if self.convert else text


class CommandParser(argparse.ArgumentParser):
    """Every command's parser (subcommands' too): a usage error (status 2) for an empty or blank
    value of a :class:`NonEmpty` option, ``<option> is empty: give <what>, or leave <option>
    out`` (a required option or argument has no "leave out"; one that some modes need names
    them: ``give <what> (<mode> and <mode> need it), or leave <option> out in other modes``).

    Arguments:
      *args, **kwargs: those of :class:`argparse.ArgumentParser` (``prog``, ``description``,
        ``formatter_class``, ...), unchanged.
    """

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        # Each value reaches the action's type here, with the action that names it.
        what = getattr(action.type, "what", None)
        if what is not None and not arg_string.strip():
            needed_in = getattr(action.type, "needed_in", ())
            self.error(_empty_value_message(action, arg_string, what, needed_in))
        return super()._get_value(action, arg_string)


def _empty_value_message(
    action: argparse.Action, text: str, what: str, needed_in: Sequence[str] = ()
) -> str:
    name = action.option_strings[0] if action.option_strings else action.metavar or action.dest
    state = "is empty" if not text else f"is blank ({text!r})"
    if action.nargs in ("+", "*"):
        return f"a value of {name} {state}: give {what} for each"
    if action.required or not action.option_strings:
        return f"{name} {state}: give {what}"
    if needed_in:  # "leave it out" is true of the other modes only
        need = "needs" if len(needed_in) == 1 else "need"
        return (
            f"{name} {state}: give {what} ({' and '.join(needed_in)} {need} it), or leave "
            f"{name} out in other modes"
        )
    return f"{name} {state}: give {what}, or leave {name} out"
