"""``nmt compare RUN_DIR...``: a table of runs with significance, and BLEU by source length
(``nmt.evaluation.compare``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.cli.options import DEVICE_HELP, add_decode_arguments, decode_config

SUMMARY = "compare runs: scores with 95% CIs, paired-bootstrap p-values, BLEU by length"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories")
    parser.add_argument(
        "--baseline",
        help="run name or directory the others are tested against (default: rnn_noattn, else the first)",
    )
    parser.add_argument("--split", default="test", help="a split of the runs' corpus")
    add_decode_arguments(parser, omit=("nbest",))
    parser.add_argument("--out", type=Path, help="output folder (default: the runs' common parent)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def run(args: argparse.Namespace) -> int:
    from nmt.evaluation.compare import compare

    report = compare(
        args.run_dirs,
        args.out,
        baseline=args.baseline,
        split=args.split,
        config=decode_config(args),
        bootstrap=args.bootstrap,
        device=args.device,
        progress=True,
    )
    print(report.read_text(encoding="utf-8"))
    print(f"written to {report.parent}: comparison.md, comparison.csv, bleu_by_length.csv/.png")
    return 0
