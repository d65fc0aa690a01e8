"""``python -m pmgsam.efficiency``: see :mod:`pmgsam.efficiency`."""

from pmgsam.efficiency.cli import main
from pmgsam.utils.cli import run_cli

run_cli(main, "python -m pmgsam.efficiency")
