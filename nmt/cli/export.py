"""``nmt export RUN_DIR --format ctranslate2``: a CTranslate2 model of a Transformer run."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.cli.options import add_run_dir

SUMMARY = "export a Transformer run for CTranslate2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_dir(parser)
    parser.add_argument("--format", choices=("ctranslate2",), required=True, help="the export format")
    parser.add_argument("--quantization", help="int8, int8_float32, int16 or float32 (default: float32)")
    parser.add_argument(
        "--out", type=Path, help="output folder (default: RUN_DIR/ctranslate2[-QUANTIZATION])"
    )


def run(args: argparse.Namespace) -> int:
    from nmt.export import export_ctranslate2

    out = args.out or args.run_dir / ("ctranslate2" + (f"-{args.quantization}" if args.quantization else ""))
    print(f"CTranslate2 model: {export_ctranslate2(args.run_dir, out, args.quantization)}")
    return 0
