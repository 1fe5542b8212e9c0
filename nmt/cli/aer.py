"""``nmt aer RUN_DIR --src F --tgt F --gold F``: alignment error rate of forced-decoding attention
(and saliency, heads, a backward run, the statistical aligner) against gold links, into
RUN_DIR/aer.json (``nmt.alignment.aer_report``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nmt.cli.io import read_pairs
from nmt.cli.options import add_model_arguments, add_run_dir
from nmt.outputs import check_outputs, write_text

SUMMARY = "alignment error rate of forced-decoding attention vs gold links"
METHODS = ("attention", "saliency")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_dir(parser)
    add_model_arguments(parser)
    parser.add_argument("--src", type=Path, required=True, help="source sentences, whitespace-tokenized")
    parser.add_argument("--tgt", type=Path, required=True, help="target sentences, whitespace-tokenized")
    parser.add_argument(
        "--gold", type=Path, required=True, help="gold links: i-j (sure) / ipj (possible) per line"
    )
    parser.add_argument("--one-based", action="store_true", help="gold indices start at 1 (default 0)")
    parser.add_argument(
        "--method",
        nargs="+",
        choices=METHODS,
        default=["attention"],
        help="readings to score: attention (the map translations carry, also shifted one step where "
        "it may lag), saliency (SmoothGrad); both also report their per-sentence rank correlation",
    )
    parser.add_argument(
        "--heads",
        action="store_true",
        help="also score every decoder layer's heads, averaged and one by one (diagnostics: which map "
        "aligns), under 'heads' in aer.json",
    )
    parser.add_argument(
        "--links", choices=("argmax", "threshold"), default="argmax", help="how links are read"
    )
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="weight a link needs with --links threshold"
    )
    parser.add_argument(
        "--backward",
        type=Path,
        metavar="RUN_DIR",
        help="a run trained in the other direction (target to source): also scored, and symmetrized "
        "with RUN_DIR (intersection, union, grow-diag-final-and)",
    )
    parser.add_argument(
        "--aligner",
        action="store_true",
        help="also score eflomal trained on the run's training pairs plus these sentences",
    )


def run(args: argparse.Namespace) -> int:
    from nmt.alignment.aer_report import AerSettings, aer_report, aligning_run, read_checked_gold, report_text

    settings = AerSettings(tuple(args.method), args.heads, args.links, args.threshold, args.aligner)
    sources, targets = read_pairs(args.src, args.tgt)
    gold = read_checked_gold(args.gold, sources, targets, args.one_based)
    check_outputs({"RUN_DIR": args.run_dir / "aer.json"})
    load = (args.checkpoint, args.device, settings.methods)
    run = aligning_run(args.run_dir, *load)
    backward = aligning_run(args.backward, *load) if args.backward else None
    report = {"gold": str(args.gold), **aer_report(run, sources, targets, gold, settings, backward)}
    print(report_text(report))
    write_text(args.run_dir / "aer.json", json.dumps(report, indent=2) + "\n")
    return 0
