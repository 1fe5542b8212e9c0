"""``nmt evaluate RUN_DIR --split test``: BLEU, chrF and TER with sacreBLEU signatures."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.cli.io import read_pairs
from nmt.cli.options import (
    add_decode_arguments,
    add_model_arguments,
    add_precision_argument,
    add_run_dir,
    decode_config,
)
from nmt.errors import NmtError
from nmt.outputs import check_outputs

SUMMARY = "score a run with BLEU, chrF and TER"
NAMES = {"bleu": "BLEU", "chrf": "chrF", "ter": "TER"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_dir(parser)
    add_model_arguments(parser)
    add_precision_argument(parser)
    add_decode_arguments(parser, omit=("nbest",))
    parser.add_argument("--split", default="test", help="a split of the run's corpus")
    parser.add_argument("--src", type=Path, help="source file to translate instead of a split")
    parser.add_argument("--ref", type=Path, help="reference translations of --src")


def run(args: argparse.Namespace) -> int:
    from nmt.data.pipeline import load_pairs
    from nmt.evaluation.hypotheses import hyps_paths, translate_and_score
    from nmt.translate import Translator

    if bool(args.src) != bool(args.ref):
        raise NmtError("--src and --ref go together")
    config = decode_config(args)
    check_outputs({"RUN_DIR": args.run_dir / "hyps"}, folder=True)
    translator = Translator.from_run(args.run_dir, args.checkpoint, args.device, args.precision)
    if args.src:
        (sources, refs), name = read_pairs(args.src, args.ref), args.src.name
    else:
        cfg = translator.run.cfg
        pairs = load_pairs(cfg.data, args.split, cfg.cache_dir)
        sources, refs, name = [s for s, _ in pairs], [t for _, t in pairs], args.split
    _, report = translate_and_score(
        translator, sources, refs, name, config, checkpoint=args.checkpoint, progress=True
    )
    for metric, shown in NAMES.items():
        print(f"{shown} = {report[metric]['score']:.2f}  {report[metric]['signature']}")
    print(f"hypotheses: {hyps_paths(args.run_dir, name, config)[0]}")
    return 0
