"""``nmt average RUN_DIR --last K | --best K``: average checkpoints into one (then --checkpoint PATH)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nmt.cli.options import add_run_dir

SUMMARY = "average a run's checkpoints (parameter mean)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_dir(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=int, metavar="K", help="the K newest step_N.pt (trainer.keep_last)")
    which.add_argument("--best", type=int, metavar="K", help="the K best best_step_N.pt (trainer.keep_best)")
    parser.add_argument(
        "--out", type=Path, help="where to write (default: RUN_DIR/average_lastK.pt or _bestK)"
    )
    parser.add_argument(
        "--allow-mixed", action="store_true", help="average checkpoints of different runs or vocabularies"
    )


def run(args: argparse.Namespace) -> int:
    from nmt.training.average import average_run

    out, paths, notes = average_run(args.run_dir, args.last, args.best, args.out, args.allow_mixed)
    for note in notes:
        print(f"nmt average: note: {note}", file=sys.stderr)
    print(f"averaged {', '.join(p.name for p in paths)} -> {out}")
    print(f"use it with: nmt evaluate {args.run_dir} --checkpoint {out}")
    return 0
