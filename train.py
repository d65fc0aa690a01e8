"""Train or fine-tune PMG-SAM.

    python train.py --config configs/pmgsam_dis5k.yaml [--output-dir DIR] [key=value ...]
    python train.py --resume runs/pmgsam_dis5k            # continue an interrupted run
    torchrun --nproc_per_node 4 train.py --config ...     # DDP (batch_size is per process)

Overrides use dotted keys of :class:`pmgsam.engine.config.ExperimentConfig`, e.g.
``optim.lr=5e-5 train.batch_size=8 data.root=/data/DIS5K``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import List, Optional

#: The command as the README has users type it and as its error lines name it (``python
#: train.py``, ``torchrun ... train.py``), whatever started it (sys.argv[0]).
PROG = "train.py"


def build_parser() -> argparse.ArgumentParser:
    """train.py's options (tests check the README's commands against them)."""
    # The module doc is the usage: how to start, resume and override, shown by --help.
    from pmgsam.utils.cli import CommandParser, HelpFormatter, NonEmpty

    parser = CommandParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    config = NonEmpty("an experiment config file")
    run_folder = NonEmpty("a run folder")
    parser.add_argument("--config", type=config, help="experiment YAML (optional with --resume)")
    parser.add_argument(
        "--output-dir", type=run_folder, help="run folder (default: output_dir of the config)"
    )
    parser.add_argument(
        "--resume",
        type=run_folder,
        help="run folder to continue from its last checkpoint (or a checkpoint folder of it, "
        "RUN/checkpoints/best, refused when last is later)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Start or resume the training run that the config, overrides and options describe."""
    parser = build_parser()
    # Intermixed: overrides may stand before and after the options, as users type them.
    args = parser.parse_intermixed_args(argv)

    from pmgsam.engine.state import CONFIG_FILE, experiment_config
    from pmgsam.engine.trainer import Trainer
    from pmgsam.engine.training_log import summary_line
    from pmgsam.utils.cli import same_on_every_process
    from pmgsam.utils.config import ConfigError

    main_rank = int(os.environ.get("RANK", "0")) == 0
    # Every rank reads the same command line and files: a refusal is said once per node.
    with same_on_every_process():
        config = experiment_config(args.config, args.overrides, args.output_dir, args.resume)
    if args.config and not args.resume:
        written = Path(config.output_dir, CONFIG_FILE).resolve()
        if written == Path(args.config).resolve():
            raise ConfigError(
                f"--config '{args.config}' is the file the run writes its resolved config to "
                f"({CONFIG_FILE} of the run folder '{config.output_dir}'): it would be replaced; "
                "copy it elsewhere or choose another --output-dir"
            )
    # Set up first: a refused run folder must not be announced as where outputs go.
    trainer = Trainer(config, resume=args.resume, progress=not args.quiet)
    if main_rank:
        print(f"pmgsam train: outputs go to {os.path.abspath(config.output_dir)}", flush=True)
        if trainer.finished:
            print(
                f"pmgsam train: the run ended after epoch {trainer.epoch} (schedule.epochs or "
                "early stopping); nothing to train",
                flush=True,
            )
    summary = trainer.fit()
    if main_rank:
        print(f"pmgsam train: {summary_line(summary)}")
    return 0


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, PROG, several_processes=True)
