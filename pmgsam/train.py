"""Train or fine-tune PMG-SAM.

    python -m pmgsam.train --config CONFIG.yaml [--output-dir DIR] [key=value ...]
    python -m pmgsam.train --resume runs/pmgsam_dis5k     # continue an interrupted run
    torchrun --nproc_per_node 4 -m pmgsam.train --config ...   # DDP (batch_size is per process)

In the source folder ``python train.py`` (``torchrun ... train.py``) is the same command. The
experiment configs (``configs/pmgsam_dis5k.yaml``, ``configs/demo.yaml``, ...) come with the
source folder and its source archive, not with the installed package: give the path of one of
them or of a config of your own.

Overrides use dotted keys of :class:`pmgsam.engine.config.ExperimentConfig`, e.g.
``optim.lr=5e-5 train.batch_size=8 data.root=/data/DIS5K``.
"""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path
from typing import List, NoReturn, Optional

#: The command as its usage and error lines name it when started as a module, whatever
#: started it (sys.argv[0]: torchrun, a launcher). The source folder's train.py passes its own.
PROG = "python -m pmgsam.train"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command's options (tests check the README's commands against them); ``prog`` names
    the command in its usage and error lines."""
    # The module doc is the usage: how to start, resume and override, shown by --help.
    from pmgsam.utils.cli import CommandParser, HelpFormatter, NonEmpty

    parser = CommandParser(prog=prog, description=__doc__, formatter_class=HelpFormatter)
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


def main(argv: Optional[List[str]] = None, prog: str = PROG) -> int:
    """Start or resume the training run that the config, overrides and options describe."""
    parser = build_parser(prog)
    # Intermixed: overrides may stand before and after the options, as users type them.
    args = parser.parse_intermixed_args(argv)

    from pmgsam.utils.cli import refuse_missing_config, same_on_every_process

    # Every rank reads the same command line and files: a refusal is said once per node.
    with same_on_every_process():
        refuse_missing_config(args.config)  # before the seconds that importing torch takes
    from pmgsam.engine.state import CONFIG_FILE, experiment_config
    from pmgsam.engine.trainer import Trainer
    from pmgsam.engine.training_log import summary_line
    from pmgsam.utils.config import ConfigError

    main_rank = int(os.environ.get("RANK", "0")) == 0
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


def run(prog: str = PROG) -> NoReturn:
    """Run the command on ``sys.argv`` and exit, naming it ``prog``: the one command that
    shares its work among the processes torchrun starts."""
    from pmgsam.utils.cli import run_cli

    run_cli(functools.partial(main, prog=prog), prog, several_processes=True)


if __name__ == "__main__":
    run()
