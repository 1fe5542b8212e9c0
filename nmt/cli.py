"""The ``nmt`` command. Thin: parses arguments, calls the library, prints.

nmt train [HYDRA OVERRIDES]            train a model (see nmt/train.py)
nmt translate RUN_DIR ["sentence" ...]  translate arguments, --input FILE, or stdin
nmt evaluate RUN_DIR --split test       BLEU, chrF and TER with sacrebleu signatures
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from nmt.errors import NmtError

NBEST_FORMAT = "n-best lines are tab-separated: input line number (1-based), score, translation"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        from nmt.train import main as train_main

        sys.argv = ["nmt train", *argv[1:]]
        train_main()
        return 0
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NmtError as e:
        print(f"nmt {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmt", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("train", help="train a model (Hydra overrides follow; `nmt train --help`)")

    translate = commands.add_parser("translate", help="translate sentences", epilog=NBEST_FORMAT)
    _add_model_arguments(translate)
    translate.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to translate")
    translate.add_argument(
        "--input", "-f", type=Path, help="file with one sentence per line (default: stdin)"
    )
    translate.add_argument("--output", "-o", type=Path, help="write translations here (default: stdout)")
    translate.add_argument("--nbest", type=int, default=1, help="write the n best translations of each line")
    translate.add_argument(
        "--align", type=Path, help="write each sentence's attention matrix here (JSON lines)"
    )
    translate.add_argument("--interactive", "-i", action="store_true", help="translate what you type")
    translate.set_defaults(func=run_translate)

    evaluate = commands.add_parser("evaluate", help="score a run with BLEU, chrF and TER")
    _add_model_arguments(evaluate)
    evaluate.add_argument("--split", default="test", help="a split of the run's corpus (default: test)")
    evaluate.add_argument("--src", type=Path, help="source file to translate instead of a split")
    evaluate.add_argument("--ref", type=Path, help="reference translations of --src")
    evaluate.set_defaults(func=run_evaluate)
    return parser


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="a run directory written by `nmt train`"
    )
    parser.add_argument("--checkpoint", default="best", help="best, last, or a path to a .pt file")
    parser.add_argument("--beam", type=int, default=5, help="beam size (1: greedy)")
    parser.add_argument("--alpha", type=float, default=0.6, help="GNMT length penalty (0: none)")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")


# ---------------------------------------------------------------- translate
def run_translate(args: argparse.Namespace) -> int:
    from nmt.translate import Translator

    if args.nbest > args.beam:
        raise NmtError(f"--nbest {args.nbest} is larger than --beam {args.beam}")
    translator = Translator.from_run(args.run_dir, args.checkpoint, args.device)
    options = {"beam": args.beam, "nbest": args.nbest, "alpha": args.alpha, "batch_size": args.batch_size}
    if args.interactive:
        for line in _prompt():
            print(_one_line(translator.translate([line], **options)[0][0].text), flush=True)
        return 0
    lines = args.sentences or read_lines(args.input)
    results = translator.translate(lines, **options)
    with _open_output(args.output) as out:
        for number, nbest in enumerate(results, 1):
            for hyp in nbest:
                text = _one_line(hyp.text)
                out.write(f"{number}\t{hyp.score:.4f}\t{text}\n" if args.nbest > 1 else f"{text}\n")
    if args.align:
        with args.align.open("w", encoding="utf-8") as out:
            for nbest in results:
                out.write(json.dumps(_alignment_record(nbest[0]), ensure_ascii=False) + "\n")
    return 0


def _alignment_record(hyp) -> dict:
    return {
        "source": hyp.source,
        "translation": hyp.text,
        "score": hyp.score,
        "src_tokens": hyp.src_tokens,
        "tgt_tokens": hyp.tgt_tokens,
        "attention": [[round(w, 4) for w in row] for row in hyp.attention.tolist()],
    }


def read_lines(path: Path | None) -> list[str]:
    """Lines of a UTF-8 file (or stdin), split on "\\n" only: other Unicode line breaks stay inside a line."""
    name = str(path) if path else "<stdin>"
    try:
        data = path.read_bytes() if path else sys.stdin.buffer.read()
    except OSError as e:
        raise NmtError(f"{name}: cannot read ({e.strerror})") from None
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    lines = []
    for number, line in enumerate(raw, 1):
        try:
            lines.append(line.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as e:
            raise NmtError(f"{name}:{number}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    return lines


def _one_line(text: str) -> str:
    """Keep one output line per input line, whatever line breaks the text holds."""
    return " ".join(text.splitlines())


def _prompt() -> Iterator[str]:
    while True:
        try:
            yield input("> ")
        except EOFError:
            return


class _open_output:
    """stdout, or a file (created with its folder) for --output."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def __enter__(self) -> TextIO:
        if self.path is None:
            return sys.stdout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("w", encoding="utf-8")
        return self.file

    def __exit__(self, *exc: object) -> None:
        if self.path is not None:
            self.file.close()


# ----------------------------------------------------------------- evaluate
def run_evaluate(args: argparse.Namespace) -> int:
    from nmt.data.pipeline import load_pairs
    from nmt.evaluation.metrics import corpus_scores
    from nmt.translate import Translator

    if bool(args.src) != bool(args.ref):
        raise NmtError("--src and --ref go together")
    translator = Translator.from_run(args.run_dir, args.checkpoint, args.device)
    if args.src:
        sources, refs, name = read_lines(args.src), read_lines(args.ref), args.src.name
        if len(sources) != len(refs):
            raise NmtError(f"{args.src} has {len(sources)} lines but {args.ref} has {len(refs)}")
    else:
        pairs = load_pairs(translator.run.cfg, args.split)
        sources, refs, name = [s for s, _ in pairs], [t for _, t in pairs], args.split
    results = translator.translate(sources, beam=args.beam, alpha=args.alpha, batch_size=args.batch_size)
    hyps = [_one_line(r[0].text) for r in results]
    scores = corpus_scores(hyps, refs)
    out_dir = args.run_dir / "hyps"
    out_dir.mkdir(exist_ok=True)
    stem = f"{name}.beam{args.beam}"
    (out_dir / f"{stem}.txt").write_text("".join(f"{h}\n" for h in hyps), encoding="utf-8")
    report = {
        "split": name,
        "sentences": len(hyps),
        "beam": args.beam,
        "alpha": args.alpha,
        "checkpoint": args.checkpoint,
        "step": translator.run.step,
        **scores,
    }
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for metric, value in scores.items():
        print(
            f"{metric.upper() if metric != 'chrf' else 'chrF'} = {value['score']:.2f}  {value['signature']}"
        )
    print(f"hypotheses: {out_dir / stem}.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
