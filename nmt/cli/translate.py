"""``nmt translate RUN_DIR... [SENTENCE...]``: translate arguments, --input FILE, stdin, or what you
type (-i); several runs translate as an ensemble."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.cli.io import open_output, prompt, read_lines
from nmt.cli.options import add_decode_arguments, add_model_arguments, add_precision_argument, decode_config
from nmt.errors import NmtError
from nmt.outputs import check_outputs

SUMMARY = "translate sentences"
NBEST_FORMAT = "n-best lines are tab-separated: input line number (1-based), score, translation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = NBEST_FORMAT
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="RUN_DIR... [SENTENCE...]",
        help="one run directory (several: an ensemble of runs sharing their vocabularies), then sentences",
    )
    add_model_arguments(parser)
    add_precision_argument(parser)
    add_decode_arguments(parser)
    parser.add_argument("--input", "-f", type=Path, help="file with one sentence per line (default: stdin)")
    parser.add_argument("--output", "-o", type=Path, help="write translations here (default: stdout)")
    parser.add_argument("--align", type=Path, help="write each sentence's attention matrix here (JSON lines)")
    parser.add_argument("--prefix", help="target text every translation must start with")
    parser.add_argument(
        "--attention-from",
        default="mean",
        help="ensembles: the run (0, 1, ...) whose attention translations carry, or mean",
    )
    parser.add_argument(
        "--engine",
        choices=("nmt", "ctranslate2"),
        default="nmt",
        help="ctranslate2: RUN_DIR is a directory written by `nmt export`",
    )
    parser.add_argument(
        "--interactive", "-i", action="store_true", help="translate what you type (with line editing)"
    )


def run(args: argparse.Namespace) -> int:
    from nmt.alignment.dump import record, write_jsonl
    from nmt.evaluation.hypotheses import one_line
    from nmt.translate import Translator

    config = decode_config(args)
    run_dirs, sentences = split_runs(args.inputs)
    check_outputs({"--output": args.output, "--align": args.align})
    attention_from = None if args.attention_from == "mean" else _index(args.attention_from)
    if args.engine == "ctranslate2":
        translator = _ctranslate2_translator(run_dirs)
    else:
        translator = Translator.from_runs(
            run_dirs, args.checkpoint, args.device, attention_from, args.precision
        )
    if args.interactive:
        for line in prompt():
            prefixes = None if args.prefix is None else [args.prefix]
            print(one_line(translator.translate([line], config, prefixes=prefixes)[0][0].text), flush=True)
        return 0
    lines = sentences or read_lines(args.input)
    prefixes = None if args.prefix is None else [args.prefix] * len(lines)
    results = translator.translate(lines, config, prefixes=prefixes, progress=True)
    with open_output(args.output) as out:
        for number, nbest in enumerate(results, 1):
            for hyp in nbest:
                text = one_line(hyp.text)
                out.write(f"{number}\t{hyp.score:.4f}\t{text}\n" if config.nbest > 1 else f"{text}\n")
    if args.align:
        write_jsonl((record(nbest[0]) for nbest in results), args.align)
    return 0


def _ctranslate2_translator(run_dirs: list[Path]):
    """The exported CTranslate2 model of ``--engine ctranslate2`` (one, not an ensemble)."""
    from nmt.export import CTranslate2Translator

    if len(run_dirs) > 1:
        raise NmtError("--engine ctranslate2 translates with one exported model, not an ensemble")
    return CTranslate2Translator(run_dirs[0])


def split_runs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """The first argument and the run directories (with a config.yaml) after it are runs, the rest
    sentences: (runs, sentences)."""
    count = 1 + next(
        (i for i, item in enumerate(inputs[1:]) if not (Path(item) / "config.yaml").is_file()),
        len(inputs) - 1,
    )
    return [Path(item) for item in inputs[:count]], inputs[count:]


def _index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise NmtError(f"--attention-from {text!r}: give a run index (0, 1, ...) or mean") from None
