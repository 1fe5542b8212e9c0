"""``nmt align RUN_DIR SENTENCE...``: what a translation attends to, as word tables, heatmaps and
dumps (``nmt.alignment.show``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.cli.io import read_lines
from nmt.cli.options import (
    add_attention_arguments,
    add_decode_arguments,
    add_model_arguments,
    add_precision_argument,
    add_run_dir,
    decode_config,
)
from nmt.errors import NmtError
from nmt.outputs import check_outputs

SUMMARY = "show what a translation attends to"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_dir(parser)
    add_model_arguments(parser)
    add_precision_argument(parser)
    add_decode_arguments(parser, omit=("nbest",))
    parser.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to translate and align")
    parser.add_argument("--input", "-f", type=Path, help="file with one sentence per line")
    parser.add_argument(
        "--target",
        action="append",
        help="align this translation of the SENTENCE instead of the model's own (teacher forcing); "
        "once per SENTENCE, in order",
    )
    parser.add_argument("--tgt", type=Path, help="translations of the --input lines to align, one per line")
    parser.add_argument("--out", type=Path, help="heatmap of the (first) sentence: .png or .svg")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="one heatmap per sentence, index.html, JSON and NPZ dumps (saliency.jsonl/.npz for saliency)",
    )
    parser.add_argument("--format", choices=("png", "svg"), default="png", help="image format for --out-dir")
    parser.add_argument("--subwords", action="store_true", help="show sentencepiece pieces, not words")
    parser.add_argument("--no-clitics", action="store_true", help="keep elided clitics (t'aime) as one word")
    parser.add_argument(
        "--punctuation",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="trailing punctuation as a word of its own (the default; --no-punctuation: kept in its word)",
    )
    parser.add_argument(
        "--method",
        choices=("attention", "saliency", "both"),
        default="attention",
        help="what to show: attention, gradient saliency (SmoothGrad), or both side by side with "
        "their rank correlation",
    )
    add_attention_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from nmt.alignment.agreement import spearman
    from nmt.alignment.plot import Caption, image_format
    from nmt.alignment.show import (
        WordView,
        align_sentences,
        draw,
        refuse_blank,
        select_attention,
        write_folder,
    )
    from nmt.translate import Translator

    config = decode_config(args)
    check_outputs({"--out": args.out})
    check_outputs({"--out-dir": args.out_dir}, folder=True)
    if args.out:
        image_format(args.out)
    translator = Translator.from_run(args.run_dir, args.checkpoint, args.device, args.precision)
    select_attention(translator.model, args.layer, args.head)
    lines = args.sentences or read_lines(args.input)
    if not lines:
        raise NmtError("nothing to align: give sentences or --input FILE")
    refuse_blank(lines, "sentence " if args.sentences else f"{args.input or '<stdin>'}:")
    readings = ["attention", "saliency"] if args.method == "both" else [args.method]
    view = WordView(args.subwords, not args.no_clitics, args.punctuation)
    aligned = align_sentences(
        translator, lines, config, targets=_given_targets(args, lines), readings=readings, view=view
    )
    for sentence in aligned:
        print(f"{sentence.translation.source}\n{sentence.translation.text}")
        for name, table in sentence.tables.items():
            print(f"{name}:\n{table.text()}" if len(readings) > 1 else table.text())
        if len(readings) > 1:
            rho = spearman(*(table.matrix for table in sentence.tables.values()))
            print(f"attention vs saliency: Spearman rho {rho:.3f}")
        print()
    caption = Caption.of_run(translator.run)
    if args.out:
        print(f"heatmap: {draw(aligned[0], args.out, caption)}")
    if args.out_dir:
        print(f"index: {write_folder(aligned, args.out_dir, args.format, view, caption)}")
    return 0


def _given_targets(args: argparse.Namespace, lines: list[str]) -> list[str] | None:
    """The translations to align instead of the model's own (``--target``/``--tgt``), one per line of
    ``lines``, each pair non-empty; None when none are given."""
    from nmt.alignment.show import check_targets

    if args.target and args.tgt:
        raise NmtError("--target and --tgt: give the translations one way")
    targets = args.target or (read_lines(args.tgt) if args.tgt else None)
    if targets is not None:
        check_targets(lines, targets, str(args.tgt) if args.tgt else "--target")
    return targets
