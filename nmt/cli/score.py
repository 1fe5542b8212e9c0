"""``nmt score RUN_DIR --src F --tgt F``: the model's log-probability of given translations, per line."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.cli.io import open_output, read_pairs
from nmt.cli.options import add_model_arguments, add_precision_argument, add_run_dir
from nmt.decoding.config import DecodeConfig
from nmt.outputs import check_outputs

SUMMARY = "the model's log-probability of given translations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_dir(parser)
    add_model_arguments(parser)
    add_precision_argument(parser)
    parser.add_argument("--src", type=Path, required=True, help="source sentences, one per line")
    parser.add_argument("--tgt", type=Path, required=True, help="their translations, one per line")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    parser.add_argument("--output", "-o", type=Path, help="write the scores here (default: stdout)")


def run(args: argparse.Namespace) -> int:
    from nmt.translate import Translator

    sources, targets = read_pairs(args.src, args.tgt)
    DecodeConfig.check("batch_size", args.batch_size)
    check_outputs({"--output": args.output})
    translator = Translator.from_run(args.run_dir, args.checkpoint, args.device, args.precision)
    scored = translator.score(sources, targets, batch_size=args.batch_size, progress=True)
    with open_output(args.output) as out:
        for result in scored:
            out.write(f"{result.log_prob:.4f}\n")
    return 0
