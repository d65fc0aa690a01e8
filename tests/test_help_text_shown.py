"""Every command's ``--help`` shows what the command is for and what each option does: the first
sentence of its description (the module docstring, for most) and every option's help text. A
formatter that dropped text (an empty ``_fill_text``) passed the markup test of
test_help_defaults.py, which only checks what is absent."""

from __future__ import annotations

import argparse
import re

from cli_cases import command_parsers

# Each command's parser, each analysis subcommand's too: a new command is added here.
COMMANDS = 13


def _first_sentence(description: str) -> str:
    """Up to the first full stop that ends a sentence, in the first paragraph."""
    paragraph = description.strip().split("\n\n")[0]
    match = re.match(r"(.*?\.)(\s|$)", paragraph, re.DOTALL)
    sentence = match.group(1) if match else paragraph
    # The docstrings' first sentences use ``literals`` and no role: --help shows the bare text.
    assert ":`" not in sentence, sentence
    return " ".join(sentence.replace("``", "").split())


def _squeezed(text: str) -> str:
    # Option help is wrapped by textwrap, which also breaks after a hyphen ("pre-" / "mask").
    return "".join(text.split())


def _shown_help(action: argparse.Action) -> str:
    return action.help.replace("%(default)s", str(action.default))


def test_each_command_help_starts_with_what_the_command_is_for():
    parsers = list(command_parsers())
    assert len(parsers) == COMMANDS
    missing = []
    for parser in parsers:
        assert parser.description, f"{parser.prog}: no description for --help to show"
        sentence = _first_sentence(parser.description)
        assert len(sentence.split()) >= 4, (parser.prog, sentence)
        if sentence not in " ".join(parser.format_help().split()):
            missing.append(f"{parser.prog}: {sentence!r}")
    assert not missing, "\n".join(missing)


def test_each_command_help_shows_every_option_help_text():
    missing = []
    shown = 0
    for parser in command_parsers():
        text = _squeezed(parser.format_help())
        for action in parser._actions:
            helps = [action]
            if isinstance(action, argparse._SubParsersAction):  # one line per subcommand
                helps = action._choices_actions
            for item in helps:
                if item.help in (None, argparse.SUPPRESS):
                    continue
                shown += 1
                if _squeezed(_shown_help(item)) not in text:
                    missing.append(f"{parser.prog} {item.option_strings or item.dest}: {item.help}")
    assert not missing, "\n".join(missing)
    assert shown > 200  # the options of all the commands, not a few
