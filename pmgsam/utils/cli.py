"""One line and a non-zero exit status, instead of a traceback, for every bad input.

Every command-line entry point runs its ``main`` through :func:`run_cli`. The project's own
error types (a bad config, data file, checkpoint, evaluation input or output folder, a missing
optional package) and the operating system's (missing file, no permission, disk full) are user
errors: they print ``<prog>: error: <message>`` on stderr and exit with status 2, as does a
symbolic link loop met by ``Path.resolve()`` (a ``RuntimeError`` before Python 3.13, an
``OSError`` since: :func:`symlink_loop_error`). Anything else, a plain ``ValueError`` or
``ImportError`` included, is a bug and keeps its traceback: code that detects a bad input
raises one of the types above, and a ``main`` never catches them itself.

While a command runs, Python warnings print as one line, ``WARNING: <message>`` (followed by
``[<category>]`` unless it is a plain ``UserWarning``), without the file, line number and source
line that Python adds for programmers (:func:`one_line_warning`). Library use and tests keep
Python's format: only :func:`run_cli` installs it, and puts the original back when ``main``
returns. A command's DataLoader workers print the same, also when started by ``spawn`` (their
``worker_init_fn``, :func:`pmgsam.data.mask_warnings.worker_warnings_init`, installs it). Which
warnings show is unchanged (``-W`` and ``PYTHONWARNINGS`` still apply).

Standard output never stops a command: a character it cannot encode is written as Python writes
it on stderr, ``\\u03b2`` (:func:`printable_stdout`), rather than raising after the work is done:
a character its encoding lacks where that is not UTF-8 (Windows, when output is redirected to a
file or a pipe: the ANSI code page, cp1252, which lacks the β, φ and ↑ of the tables; a POSIX
locale without UTF-8), and under UTF-8 the bytes of a path that is not UTF-8 (``\\udce9``).

Every command's parser is a :class:`CommandParser`: an option naming a path, split, method or
model (its type a :class:`NonEmpty`) given an empty or blank value, as a shell gives an unset
variable, is a usage error naming the option, not read as not given or as the current folder.

Only training (``python -m pmgsam.train``, the source folder's ``train.py``) shares its work
among the processes ``torchrun`` starts; every other command, started with ``WORLD_SIZE`` above
1, exits with status 2 before doing anything: each process would repeat all of its work and
write the same files.

Ctrl-C and SIGTERM (Slurm's preemption, ``scancel``, ``kill -TERM -PGID``; what torchrun sends
the other processes when one fails) stop every command alike: ``<prog>: interrupted`` and exit
status 130 (:mod:`pmgsam.utils.signals`). Under ``torchrun``, where Ctrl-C reaches every
process, that line is rank 0's alone. When one process fails, the others lose their connection
to it (gloo's "Connection closed by peer", with a long traceback): rank 0 says so in one line
pointing at the failing process's own error, the others say nothing
(:func:`lost_other_process`). An error raised inside :func:`same_on_every_process` (a set-up
check of the command line and the run's files, such as resuming on another number of
processes) is printed by each node's local rank 0 alone: the other ranks on that node, which
read the same files, wait for torchrun to stop them (:data:`QUIET_RANK_WAIT_S`), and print it
themselves only if it does not.
"""

from __future__ import annotations

import argparse
import ast
import logging
import os
import re
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Optional, Sequence, Tuple

from pmgsam.utils.cli_types import (  # noqa: F401 (the commands import them from here)
    DEVICE_NAMES,
    CommandParser,
    NonEmpty,
    device_name,
    is_device_name,
    name_list,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)
from pmgsam.utils.command_names import command_name
from pmgsam.utils.io import is_link_loop
from pmgsam.utils.messages import one_line
from pmgsam.utils.signals import sigterm_interrupts

# Looked up in sys.modules only: an error can only come from a module that was imported, and
# the CLI wrapper must not import torch to print a config error.
_USER_ERRORS = {
    "pmgsam.utils.config": "ConfigError",
    "pmgsam.utils.output_paths": "OutputError",
    "pmgsam.data.io": "DataError",
    "pmgsam.modeling.checkpoint_files": "CheckpointError",
    "pmgsam.evaluation.scoring": "EvaluationInputError",
}
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# A process that stopped because another one of its job failed: as Python's uncaught error.
EXIT_OTHER_PROCESS = 1
# How long a rank that leaves a shared set-up error to its node's local rank 0 waits for torchrun
# to stop it (torchrun checks its processes every 0.1 s by default) before printing it itself.
QUIET_RANK_WAIT_S = 30.0
# What gloo raises in the processes still running when one of a job's processes has ended.
_LOST_PEER = re.compile(r"Connection (closed|reset) by peer|Broken pipe")
# One format for every command's log lines, and for a run's train.log (dated: runs last days).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


# Sphinx roles of the module docstrings that --help shows, in every form Sphinx reads: with a
# domain (:py:func:`x`, :c:func:`y`), a ~ (last part), a ! (no link) or a title (`text <x>`);
# and literals (``x``). A terminal reader sees the name, not the markup.
_ROLE = re.compile(r":(?:[A-Za-z][\w+.-]*:)+`([^`]+)`")
_TITLED = re.compile(r"(.*\S)\s*<[^<>]+>", re.DOTALL)
_LITERAL = re.compile(r"``([^`]+)``")


def _role_text(match: re.Match) -> str:
    """What a role shows: its title, else its target (the last part after a ``~``)."""
    content = match.group(1)
    titled = _TITLED.fullmatch(content)
    if titled:
        return titled.group(1)
    target = content.lstrip("!")
    return target[1:].rsplit(".", 1)[-1] if target.startswith("~") else target


def plain_help(text: str) -> str:
    """``text`` (reStructuredText as the docstrings write it) as --help prints it: roles and
    literals become their bare names (a ``~`` target its last part, a titled role its title),
    and a paragraph's closing ``::`` (a literal block follows) a single colon."""
    text = _LITERAL.sub(r"\1", _ROLE.sub(_role_text, text))
    return re.sub(r"::$", ":", text, flags=re.MULTILINE)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` as every command prints it: descriptions as written but in plain text
    (:func:`plain_help`), and each option's default after its help text where it has one
    (not for unset or off options).

    Arguments:
      those of :class:`argparse.HelpFormatter` (prog, indent_increment, max_help_position,
      width); argparse builds it from ``formatter_class=HelpFormatter``.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(plain_help(text), width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = plain_help(action.help or "")
        # By identity: 0 == False, and a default of 0 is worth showing.
        default = action.default
        shown = not (
            default is None or default is False or default == [] or default is argparse.SUPPRESS
        )
        if shown and action.option_strings and "default" not in text:
            text += (" " if text else "") + "(default: %(default)s)"
        return text


class MissingDependencyError(ImportError):
    """An optional package (or local model) a command needs is absent; the message says how to
    install it."""


class OtherProcessFailed(RuntimeError):
    """This process stopped because another process of its ``torchrun`` job failed; that
    process's error (printed by it, and in a training run's train.log) is the cause."""


def lost_other_process(err: BaseException) -> bool:
    """Whether ``err`` says that another process of the job is gone: an
    :class:`OtherProcessFailed`, or gloo's lost connection to a peer (a ``RuntimeError``)."""
    if isinstance(err, OtherProcessFailed):
        return True
    return isinstance(err, RuntimeError) and _LOST_PEER.search(str(err)) is not None


@contextmanager
def same_on_every_process() -> Iterator[None]:
    """Meanwhile, an error is marked as one that every process on a node raises alike (its
    checks read only the command line and the node's files), which :func:`run_cli` prints
    once per node."""
    try:
        yield
    except Exception as err:
        err.same_on_every_process = True  # type: ignore[attr-defined]
        raise


def _local_rank() -> str:
    return os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")).strip() or "0"


def _leave_to_local_rank_zero() -> None:
    """Wait (up to :data:`QUIET_RANK_WAIT_S`) for torchrun to stop this process once the
    node's local rank 0 has printed the error they share and exited."""
    try:
        time.sleep(QUIET_RANK_WAIT_S)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


def user_error_types() -> Tuple[type, ...]:
    """Exception types reported as one line (those of the modules imported so far)."""
    # FloatingPointError: a training run's loss went NaN (the trainer's and the SAM
    # fine-tune's message says what to do), which no traceback would explain better.
    types = [OSError, MissingDependencyError, FloatingPointError]
    for module, name in _USER_ERRORS.items():
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, name):
            types.append(getattr(loaded, name))
    return tuple(types)


_SYMLINK_LOOP = re.compile(r"Symlink loop from (.+)")


def symlink_loop_error(err: BaseException) -> Optional[OSError]:
    """``err`` as a user error when it is Python < 3.13's ``RuntimeError`` from
    ``Path.resolve()`` on a symbolic link loop (3.13 raises an ``OSError``): a looping link in
    an image folder or given as an input or output path is bad input, not a bug."""
    match = _SYMLINK_LOOP.fullmatch(str(err)) if type(err) is RuntimeError else None
    if match is None:
        return None
    try:
        path = ast.literal_eval(match.group(1))  # pathlib writes the path as repr() does
    except (ValueError, SyntaxError):
        path = match.group(1)
    path = _first_looping_link(Path(path))
    return OSError(
        f"'{path}' is a symbolic link loop (it leads back to itself, perhaps through other "
        "links): point it at a real file or folder, or remove it",
    )


def _first_looping_link(path: Path) -> Path:
    """The first folder of ``path``, or ``path``, that is a looping link: pathlib names the path
    it was resolving (``run/config.yaml`` for a looping ``run``)."""
    for part in [*reversed(path.parents), path]:
        if is_link_loop(part):
            return part
    return path


def one_line_warning(
    message: Warning | str,
    category: type,
    filename: str,
    lineno: int,
    line: Optional[str] = None,
) -> str:
    """A warning as a command prints it (a ``warnings.formatwarning``): ``WARNING: <message>``
    on one line, with ``[<category>]`` after it unless the category is ``UserWarning``. The
    source line Python prints under a warning (e.g. ``scores = evaluate_cos_folder(``) means
    nothing to a user of the command."""
    text = " ".join(str(message).split())
    tag = "" if category is UserWarning else f" [{category.__name__}]"
    return f"WARNING: {text}{tag}\n"


def torchrun_processes() -> int:
    """The processes of the job this one belongs to: ``WORLD_SIZE``, which ``torchrun`` sets
    (1 when unset or not a number)."""
    text = os.environ.get("WORLD_SIZE", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else 1


def printable_stdout() -> None:
    """Let a strict ``sys.stdout`` write what it cannot encode as escapes (``\\u03b2``), as
    Python's stderr does, instead of raising.

    Not only where the encoding lacks a character: a UTF-8 stdout cannot encode the surrogates
    that stand for the bytes of a path or argument that is not UTF-8 (``b'caf\\xe9'`` decodes
    to ``'caf\\udce9'``), and a UTF-8 locale, or ``PYTHONIOENCODING=utf-8``, leaves it strict.
    """
    if getattr(sys.stdout, "errors", None) != "strict":
        return
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


def run_cli(main: Callable[[], Any], prog: str, several_processes: bool = False) -> NoReturn:
    """Run ``main()`` and exit: its int result (0 for anything else), or 2 on a user error.

    The package's INFO records go to stderr in :data:`LOG_FORMAT`; other libraries' only from
    WARNING up. Python warnings print as one line meanwhile (:func:`one_line_warning`). Ctrl-C
    and SIGTERM (:func:`~pmgsam.utils.signals.sigterm_interrupts`) print ``<prog>:
    interrupted`` and exit with :data:`EXIT_INTERRUPTED`. Unless ``several_processes``, a job
    of several processes (``torchrun``) is refused."""
    printable_stdout()
    processes = torchrun_processes()
    # Lines every process of a job would print alike: rank 0's alone.
    main_rank = os.environ.get("RANK", "0").strip() in ("", "0")
    if processes > 1 and not several_processes:
        if main_rank:
            print(
                f"{prog}: error: this command runs in one process, but torchrun (or another "
                f"launcher) started {processes} (WORLD_SIZE={processes}): each would repeat "
                "all of its work and write the same files; run it with python (training, "
                f"{command_name('train', source_folder=prog.endswith('.py'))}, is the command "
                "that shares its work among processes)",
                file=sys.stderr,
            )
        sys.exit(EXIT_USER_ERROR)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, datefmt=LOG_DATE_FORMAT)
    logging.getLogger("pmgsam").setLevel(logging.INFO)
    # formatwarning, not showwarning: warnings recorded by catch_warnings(record=True) (pytest,
    # a caller collecting them) are never formatted, so they still reach their recorder.
    python_format = warnings.formatwarning
    warnings.formatwarning = one_line_warning
    try:
        with sigterm_interrupts():  # Slurm's preemption stops a command as Ctrl-C does
            result = main()
    except KeyboardInterrupt:
        if main_rank:  # Ctrl-C reaches every process of a torchrun job
            print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as err:
        if processes > 1 and lost_other_process(err):
            if main_rank:  # the failing process printed its own error; one line says where
                print(f"{prog}: error: {_other_process_line(err)}", file=sys.stderr)
            sys.exit(EXIT_OTHER_PROCESS)
        err = symlink_loop_error(err) or err
        if not isinstance(err, user_error_types()):
            raise
        if processes > 1 and getattr(err, "same_on_every_process", False):
            if _local_rank() != "0":
                _leave_to_local_rank_zero()
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    finally:
        warnings.formatwarning = python_format
    sys.exit(result if isinstance(result, int) else 0)


def _other_process_line(err: BaseException) -> str:
    if isinstance(err, OtherProcessFailed):
        return one_line(err)
    return (
        "another process of this torchrun job failed (this one lost its connection to it); "
        "its error is printed above"
    )


def refuse_missing_config(path: Optional[str], option: str = "--config") -> None:
    """Refuse a config option naming no file before any work, as the config loader would
    (:func:`~pmgsam.utils.config_files.missing_config_message`: a path into a ``configs/``
    folder that is not here says the example configs are not installed)."""
    if path is None or Path(path).is_file():
        return
    from pmgsam.utils.config import ConfigError
    from pmgsam.utils.config_files import missing_config_message

    if Path(path).is_dir():
        raise ConfigError(f"{option} '{path}' is a folder, not a config file")
    raise ConfigError(missing_config_message(path))


def exit_status(
    main: Callable[[Sequence[str]], Any], argv: Sequence[Any], prog: str = "prog"
) -> int:
    """The exit status of ``main(argv)`` run as its command line runs it (through
    :func:`run_cli`); for tests and scripts. Usage errors give 2 as from the shell, and a bug's
    exception propagates with its traceback.
    """
    try:
        run_cli(lambda: main([str(a) for a in argv]), prog)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
