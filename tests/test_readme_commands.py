"""README.md, BENCHMARKS.md and benchmarks/REHEARSALS.md stay in step with the command-line parsers.

Every ``--option`` of a pmgsam command quoted in them (``python train.py``, ``evaluate.py``,
``python -m pmgsam....``, ``python scripts/x.py``, ``python benchmarks/x.py``, in a code block
or an inline code span) must be an option of that command's parser, and every other
``--option`` the README quotes must be one of some pmgsam command (or of the few other tools it
names). The parsers are built in-process, no command runs, and argparse's prefix matching is
not accepted: a renamed option fails here.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path
from typing import Callable, Dict, List, Set, Tuple
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "BENCHMARKS.md", "benchmarks/REHEARSALS.md")

# Options of other tools that the README quotes (the tool named for each).
OTHER_TOOLS = {"--nproc_per_node": "torchrun", "--no-build-isolation": "pip", "--check": "ruff"}

COMMAND = re.compile(
    r"(?:(?<=\s)|(?<=^)|(?<=/))(train\.py|evaluate\.py)(?=\s|$)|-m\s+(pmgsam(?:\.\w+)*)"
    r"|(?:(?<=\s)|(?<=^))((?:scripts|benchmarks)/\w+\.py)(?=\s|$)"
)
# The Python scripts beside the package; each builds its parser in main(), before any work.
SCRIPTS = ("scripts", "benchmarks")
OPTION = re.compile(r"(?:(?<=\s)|(?<=^)|(?<=\[)|(?<=`))--[a-zA-Z][\w-]*\*?")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)*)`")


def _parser_builders() -> Dict[str, Callable[[], argparse.ArgumentParser]]:
    import evaluate
    import train
    from pmgsam import __main__ as package
    from pmgsam import ablate, report
    from pmgsam import evaluate as evaluate_module
    from pmgsam import train as train_module
    from pmgsam.analysis import __main__ as analysis
    from pmgsam.baselines import finetune_sam
    from pmgsam.data import synthetic
    from pmgsam.efficiency import cli as efficiency
    from pmgsam.engine import inference
    from pmgsam.evaluation import export_cos_gt

    return {
        "train.py": train.build_parser,
        "evaluate.py": evaluate.build_parser,
        "pmgsam": package.build_parser,
        "pmgsam.train": train_module.build_parser,
        "pmgsam.evaluate": evaluate_module.build_parser,
        "pmgsam.engine.inference": inference.build_parser,
        "pmgsam.report": report.build_parser,
        "pmgsam.efficiency": efficiency.build_parser,
        "pmgsam.data.synthetic": synthetic.build_parser,
        "pmgsam.ablate": ablate.build_parser,
        "pmgsam.analysis": analysis.build_parser,
        "pmgsam.baselines.finetune_sam": finetune_sam.build_parser,
        "pmgsam.evaluation.export_cos_gt": export_cos_gt.build_parser,
        **{
            f"{folder}/{path.name}": _script_parser_builder(path)
            for folder in SCRIPTS
            for path in sorted((ROOT / folder).glob("*.py"))
            if "def main(" in path.read_text(encoding="utf-8")  # not a module scripts import
        },
    }


class _ParserBuilt(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _script_parser_builder(path: Path) -> Callable[[], argparse.ArgumentParser]:
    """The parser of the script ``path``: its ``main()`` runs until it parses its arguments,
    where the (patched) ``parse_args`` hands the parser over instead."""

    def build() -> argparse.ArgumentParser:
        spec = importlib.util.spec_from_file_location(f"_docs_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        with mock.patch.dict(sys.modules, {spec.name: module}):  # dataclasses look it up
            spec.loader.exec_module(module)

        def hand_over(parser: argparse.ArgumentParser, *args, **kwargs):
            raise _ParserBuilt(parser)

        with mock.patch.object(argparse.ArgumentParser, "parse_args", hand_over):
            try:
                module.main()
            except _ParserBuilt as built:
                return built.parser
        raise AssertionError(f"{path}: main() returned without parsing its arguments")

    return build


def _options(parser: argparse.ArgumentParser) -> Set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def _subcommands(parser: argparse.ArgumentParser) -> Dict[str, argparse.ArgumentParser]:
    found: Dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


@pytest.fixture(scope="module")
def parsers() -> Dict[str, argparse.ArgumentParser]:
    return {name: build() for name, build in _parser_builders().items()}


def code_texts(markdown: str) -> List[str]:
    """The code of ``markdown``: each fenced block's logical lines (backslash continuations
    joined, ``#`` comments dropped) and each inline code span."""
    texts: List[str] = []
    for block in FENCE.findall(markdown):
        joined = re.sub(r"\\\n\s*", " ", block)
        texts += [re.sub(r"(^|\s)#.*", "", line) for line in joined.splitlines()]
    prose = FENCE.sub("", markdown)
    texts += [span.replace("\n", " ") for span in INLINE.findall(prose)]
    return texts


def quoted_commands(text: str) -> List[Tuple[str, str]]:
    """``(command, the text after it)`` for each pmgsam command in one line of code; a
    command's text ends at the next command, ``&&``, ``;`` or a shell pipe (`` | ``)."""
    text = re.split(r"&&|;|\s\|\s", text)
    found: List[Tuple[str, str]] = []
    for part in text:
        matches = list(COMMAND.finditer(part))
        for i, match in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(part)
            command = match.group(1) or match.group(2) or match.group(3)
            found.append((command, part[match.end() : end]))
    return found


def _known(option: str, options: Set[str]) -> bool:
    if option.endswith("*"):  # a family, e.g. --esam-*
        return any(o.startswith(option[:-1]) for o in options)
    return option in options


def command_option_mismatches(
    markdown: str, parsers: Dict[str, argparse.ArgumentParser]
) -> List[str]:
    """``'<command>: --option'`` for each quoted option its command's parser lacks (and
    ``'<command>: no such command'`` for a pmgsam module without a parser here)."""
    wrong: List[str] = []
    for text in code_texts(markdown):
        for command, rest in quoted_commands(text):
            parser = parsers.get(command)
            if parser is None:
                wrong.append(f"{command}: no such command")
                continue
            sub = re.match(r"\s+(\w+)", rest)
            subparsers = _subcommands(parser)
            if sub and sub.group(1) in subparsers:
                parser = subparsers[sub.group(1)]
            options = _options(parser)
            wrong += [f"{command}: {o}" for o in OPTION.findall(rest) if not _known(o, options)]
    return wrong


def unknown_options(markdown: str, parsers: Dict[str, argparse.ArgumentParser]) -> List[str]:
    """The options quoted in ``markdown``'s code that no pmgsam command (nor
    :data:`OTHER_TOOLS`) has."""
    every = set(OTHER_TOOLS)
    for parser in parsers.values():
        every |= _options(parser)
        for sub in _subcommands(parser).values():
            every |= _options(sub)
    quoted = {o for text in code_texts(markdown) for o in OPTION.findall(text)}
    return sorted(o for o in quoted if not _known(o, every))


@pytest.mark.parametrize("doc", DOCS)
def test_every_quoted_command_option_exists(doc: str, parsers) -> None:
    assert command_option_mismatches((ROOT / doc).read_text(), parsers) == []


def test_every_option_the_readme_quotes_exists(parsers) -> None:
    assert unknown_options((ROOT / "README.md").read_text(), parsers) == []


def test_the_check_catches_renamed_options_and_reads_the_docs_layouts(parsers) -> None:
    # Hand-made drift: each wrong option is the kind a rename leaves behind.
    markdown = (
        "```bash\n"
        "python train.py --config c.yaml --ouput-dir runs/x   # --not-this-comment\n"
        "python evaluate.py --pred-dir p \\\n    --gt-dir g --out m.json --worker 2\n"
        "torchrun --nproc_per_node 4 train.py --config c.yaml --resume-from r\n"
        "python -m pmgsam.analysis overlap --name X --out o --rule-set either\n"
        "python -m pmgsam.engine.inference --checkpoint c --input i --out o --premask p\n"
        "python benchmarks/loader_speed.py --num 3 --round 3 && "
        "python scripts/bad_inputs.py --onl x\n"
        "OMP_NUM_THREADS=1 python benchmarks/no_such.py --num 3\n"
        "```\n"
        "Use `python -m pmgsam.efficiency --thread N` or `python -m pmgsam.nothing --x`;\n"
        "`evaluate.py --baseline sam-auto` and `--skip-existing` are fine, `--no-such` is not.\n"
    )
    assert command_option_mismatches(markdown, parsers) == [
        "train.py: --ouput-dir",
        "evaluate.py: --worker",  # a prefix of --workers: argparse would take it, we do not
        "train.py: --resume-from",
        "pmgsam.analysis: --rule-set",
        "pmgsam.engine.inference: --premask",
        "benchmarks/loader_speed.py: --round",
        "scripts/bad_inputs.py: --onl",
        "benchmarks/no_such.py: no such command",
        "pmgsam.efficiency: --thread",
        "pmgsam.nothing: no such command",
    ]
    assert unknown_options(markdown, parsers) == [
        "--no-such",
        "--onl",
        "--ouput-dir",
        "--premask",
        "--resume-from",
        "--round",
        "--rule-set",
        "--thread",
        "--worker",
        "--x",
    ]
