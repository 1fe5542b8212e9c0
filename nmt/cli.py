"""The ``nmt`` command. Thin: parses arguments, calls the library, prints.

nmt train [HYDRA OVERRIDES]            train a model (see nmt/train.py)
nmt translate RUN_DIR... ["sentence" ...]  translate arguments, --input FILE, or stdin (runs: an ensemble)
nmt score RUN_DIR --src F --tgt F       the model's log-probability of given translations, per line
nmt evaluate RUN_DIR --split test       BLEU, chrF and TER with sacrebleu signatures
nmt export RUN_DIR --format ctranslate2   a CTranslate2 model of a Transformer run (--quantization int8)
nmt compare RUN_DIR...                  a table of runs with significance, and BLEU by source length
nmt average RUN_DIR --last K | --best K  average checkpoints into one (then --checkpoint PATH)
nmt serve RUN_DIR...                    a translation server and attention explorer in the browser
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nmt.decoding.config import DecodeConfig
from nmt.errors import NmtError
from nmt.outputs import atomic_write, check_outputs, write_text

if TYPE_CHECKING:
    from nmt.rundir import Run
    from nmt.translate import Translation

METHODS = ("attention", "saliency")
NBEST_FORMAT = "n-best lines are tab-separated: input line number (1-based), score, translation"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        from nmt.train import main as train_main

        sys.argv = ["nmt train", *argv[1:]]
        train_main()
        return 0
    parser, commands = build_parser()
    if not argv or argv[0] not in commands:
        parser.parse_args(argv)  # prints usage or help, and exits
    args = commands[argv[0]].parse_intermixed_args(argv[1:])  # sentences may follow options
    args.command = argv[0]
    try:
        return args.func(args)
    except NmtError as e:
        print(f"nmt {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``nmt`` parser and its subcommands' parsers, by name."""
    parser = argparse.ArgumentParser(
        prog="nmt", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("train", help="train a model (Hydra overrides follow; `nmt train --help`)")

    translate = commands.add_parser("translate", help="translate sentences", epilog=NBEST_FORMAT)
    translate.add_argument(
        "inputs",
        nargs="+",
        metavar="RUN_DIR... [SENTENCE...]",
        help="one run directory (several: an ensemble of runs sharing their vocabularies), then sentences",
    )
    _add_model_arguments(translate, run_dir=False)
    _add_precision_argument(translate)
    _add_decode_arguments(translate)
    translate.add_argument(
        "--input", "-f", type=Path, help="file with one sentence per line (default: stdin)"
    )
    translate.add_argument("--output", "-o", type=Path, help="write translations here (default: stdout)")
    translate.add_argument(
        "--align", type=Path, help="write each sentence's attention matrix here (JSON lines)"
    )
    translate.add_argument("--prefix", help="target text every translation must start with")
    translate.add_argument(
        "--attention-from",
        default="mean",
        help="ensembles: the run (0, 1, ...) whose attention translations carry, or mean (default)",
    )
    translate.add_argument(
        "--engine",
        choices=("nmt", "ctranslate2"),
        default="nmt",
        help="ctranslate2: RUN_DIR is a directory written by `nmt export` (default: nmt)",
    )
    translate.add_argument("--interactive", "-i", action="store_true", help="translate what you type")
    translate.set_defaults(func=run_translate)

    export = commands.add_parser("export", help="export a Transformer run for CTranslate2")
    export.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="a run directory written by `nmt train`"
    )
    export.add_argument("--format", choices=("ctranslate2",), required=True, help="the export format")
    export.add_argument("--quantization", help="int8, int8_float32, int16 or float32 (default: float32)")
    export.add_argument(
        "--out", type=Path, help="output folder (default: RUN_DIR/ctranslate2[-QUANTIZATION])"
    )
    export.set_defaults(func=run_export)

    score = commands.add_parser("score", help="the model's log-probability of given translations")
    _add_model_arguments(score)
    _add_precision_argument(score)
    score.add_argument("--src", type=Path, required=True, help="source sentences, one per line")
    score.add_argument("--tgt", type=Path, required=True, help="their translations, one per line")
    score.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    score.add_argument("--output", "-o", type=Path, help="write the scores here (default: stdout)")
    score.set_defaults(func=run_score)

    evaluate = commands.add_parser("evaluate", help="score a run with BLEU, chrF and TER")
    _add_model_arguments(evaluate)
    _add_precision_argument(evaluate)
    _add_decode_arguments(evaluate, nbest=False)
    evaluate.add_argument("--split", default="test", help="a split of the run's corpus (default: test)")
    evaluate.add_argument("--src", type=Path, help="source file to translate instead of a split")
    evaluate.add_argument("--ref", type=Path, help="reference translations of --src")
    evaluate.set_defaults(func=run_evaluate)

    align = commands.add_parser("align", help="show what a translation attends to")
    _add_model_arguments(align)
    _add_precision_argument(align)
    _add_decode_arguments(align, nbest=False)
    align.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to translate and align")
    align.add_argument("--input", "-f", type=Path, help="file with one sentence per line")
    align.add_argument(
        "--target",
        action="append",
        help="align this translation of the SENTENCE instead of the model's own (teacher forcing); "
        "once per SENTENCE, in order",
    )
    align.add_argument("--tgt", type=Path, help="translations of the --input lines to align, one per line")
    align.add_argument("--out", type=Path, help="heatmap of the (first) sentence: .png or .svg")
    align.add_argument(
        "--out-dir",
        type=Path,
        help="one heatmap per sentence, index.html, JSON and NPZ dumps (saliency.jsonl/.npz for saliency)",
    )
    align.add_argument("--format", choices=("png", "svg"), default="png", help="image format for --out-dir")
    align.add_argument("--subwords", action="store_true", help="show sentencepiece pieces, not words")
    align.add_argument("--no-clitics", action="store_true", help="keep elided clitics (t'aime) as one word")
    align.add_argument("--punctuation", action="store_true", help="detach trailing punctuation from words")
    align.add_argument(
        "--method",
        choices=("attention", "saliency", "both"),
        default="attention",
        help="what to show: attention, gradient saliency (SmoothGrad), or both side by side with "
        "their rank correlation (default: attention)",
    )
    _add_attention_arguments(align)
    align.set_defaults(func=run_align)

    aer = commands.add_parser("aer", help="alignment error rate of forced-decoding attention vs gold links")
    _add_model_arguments(aer)
    aer.add_argument("--src", type=Path, required=True, help="source sentences, whitespace-tokenized")
    aer.add_argument("--tgt", type=Path, required=True, help="target sentences, whitespace-tokenized")
    aer.add_argument(
        "--gold", type=Path, required=True, help="gold links: i-j (sure) / ipj (possible) per line"
    )
    aer.add_argument("--one-based", action="store_true", help="gold indices start at 1 (default 0)")
    aer.add_argument(
        "--method",
        nargs="+",
        choices=METHODS,
        default=["attention"],
        help="readings to score: attention (the map translations carry, also shifted one step where "
        "it may lag), saliency (SmoothGrad); both also report their per-sentence rank correlation "
        "(default: attention)",
    )
    aer.add_argument(
        "--heads",
        action="store_true",
        help="also score every decoder layer's heads, averaged and one by one (diagnostics: which map "
        "aligns), under 'heads' in aer.json",
    )
    aer.add_argument("--links", choices=("argmax", "threshold"), default="argmax", help="how links are read")
    aer.add_argument(
        "--threshold", type=float, default=0.5, help="weight a link needs with --links threshold"
    )
    aer.add_argument(
        "--backward",
        type=Path,
        metavar="RUN_DIR",
        help="a run trained in the other direction (target to source): also scored, and symmetrized "
        "with RUN_DIR (intersection, union, grow-diag-final-and)",
    )
    aer.add_argument(
        "--aligner",
        action="store_true",
        help="also score eflomal trained on the run's training pairs plus these sentences",
    )
    aer.set_defaults(func=run_aer)

    compare = commands.add_parser(
        "compare", help="compare runs: scores with 95%% CIs, paired-bootstrap p-values, BLEU by length"
    )
    compare.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories")
    compare.add_argument(
        "--baseline",
        help="run name or directory the others are tested against (default: rnn_noattn, else the first)",
    )
    compare.add_argument("--split", default="test", help="a split of the runs' corpus (default: test)")
    _add_decode_arguments(compare, nbest=False)
    compare.add_argument("--out", type=Path, help="output folder (default: the runs' common parent)")
    compare.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    compare.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    compare.set_defaults(func=run_compare)

    average = commands.add_parser("average", help="average a run's checkpoints (parameter mean)")
    average.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="a run directory written by `nmt train`"
    )
    which = average.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=int, metavar="K", help="the K newest step_N.pt (trainer.keep_last)")
    which.add_argument("--best", type=int, metavar="K", help="the K best best_step_N.pt (trainer.keep_best)")
    average.add_argument(
        "--out", type=Path, help="where to write (default: RUN_DIR/average_lastK.pt or _bestK)"
    )
    average.add_argument(
        "--allow-mixed", action="store_true", help="average checkpoints of different runs or vocabularies"
    )
    average.set_defaults(func=run_average)

    serve = commands.add_parser("serve", help="serve runs over HTTP, with an attention explorer at /")
    serve.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories to serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0: any free port)")
    serve.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    serve.set_defaults(func=run_serve)
    return parser, commands.choices


def _add_attention_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layer", type=int, help="Transformer: decoder layer whose cross-attention to show")
    parser.add_argument("--head", type=int, help="Transformer: one head (default: the mean of the heads)")


def _add_model_arguments(parser: argparse.ArgumentParser, run_dir: bool = True) -> None:
    if run_dir:
        parser.add_argument(
            "run_dir", type=Path, metavar="RUN_DIR", help="a run directory written by `nmt train`"
        )
    parser.add_argument("--checkpoint", default="best", help="best, last, or a path to a .pt file")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")


def _add_precision_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default="auto",
        help="what the model computes in: auto (bf16 on GPUs and on CPUs with native bf16 for the "
        "Transformer, else fp32), fp32, bf16, or fp16 (CUDA)",
    )


def _add_decode_arguments(parser: argparse.ArgumentParser, nbest: bool = True) -> None:
    """The options of ``DecodeConfig`` (defaults from it)."""
    defaults = DecodeConfig()
    group = parser.add_argument_group("decoding")
    group.add_argument("--beam", type=int, default=defaults.beam, help="beam size (1: greedy)")
    if nbest:
        group.add_argument(
            "--nbest", type=int, default=defaults.nbest, help="write the n best translations (or n samples)"
        )
    group.add_argument("--alpha", type=float, default=defaults.alpha, help="GNMT length penalty (0: none)")
    group.add_argument(
        "--max-len-a", type=float, default=defaults.max_len_a, help="at most A * source length + B tokens"
    )
    group.add_argument("--max-len-b", type=int, default=defaults.max_len_b)
    group.add_argument("--sample", action="store_true", help="sample outputs instead of searching")
    group.add_argument("--temperature", type=float, default=defaults.temperature, help="sampling temperature")
    group.add_argument(
        "--top-k", type=int, default=defaults.top_k, help="sample among the k likeliest (0: all)"
    )
    group.add_argument("--top-p", type=float, default=defaults.top_p, help="nucleus sampling mass (1: all)")
    group.add_argument("--seed", type=int, default=defaults.seed, help="sampling seed")
    group.add_argument("--batch-size", type=int, default=defaults.batch_size, help="sentences per batch")
    group.add_argument(
        "--batch-tokens",
        type=int,
        help="batch by size instead: sentences of similar length up to this many padded source tokens",
    )


def decode_config(args: argparse.Namespace) -> DecodeConfig:
    """The ``DecodeConfig`` of the parsed options (its checks name the option at fault)."""
    return DecodeConfig(
        beam=args.beam,
        nbest=getattr(args, "nbest", 1),
        alpha=args.alpha,
        max_len_a=args.max_len_a,
        max_len_b=args.max_len_b,
        sampling=args.sample,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        batch_size=args.batch_size,
        batch_tokens=args.batch_tokens,
    )


# ---------------------------------------------------------------- translate
def run_translate(args: argparse.Namespace) -> int:
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
    numbered = config.nbest > 1
    if args.interactive:
        for line in _prompt():
            prefixes = None if args.prefix is None else [args.prefix]
            print(one_line(translator.translate([line], config, prefixes=prefixes)[0][0].text), flush=True)
        return 0
    lines = sentences or read_lines(args.input)
    prefixes = None if args.prefix is None else [args.prefix] * len(lines)
    results = translator.translate(lines, config, prefixes=prefixes, progress=True)
    with _open_output(args.output) as out:
        for number, nbest in enumerate(results, 1):
            for hyp in nbest:
                text = one_line(hyp.text)
                out.write(f"{number}\t{hyp.score:.4f}\t{text}\n" if numbered else f"{text}\n")
    if args.align:
        from nmt.alignment.dump import record, write_jsonl

        write_jsonl((record(nbest[0]) for nbest in results), args.align)
    return 0


def _ctranslate2_translator(run_dirs: list[Path]):
    from nmt.export import CTranslate2Translator

    if len(run_dirs) > 1:
        raise NmtError("--engine ctranslate2 translates with one exported model, not an ensemble")
    return CTranslate2Translator(run_dirs[0])


def run_export(args: argparse.Namespace) -> int:
    from nmt.export import export_ctranslate2

    out = args.out or args.run_dir / ("ctranslate2" + (f"-{args.quantization}" if args.quantization else ""))
    print(f"CTranslate2 model: {export_ctranslate2(args.run_dir, out, args.quantization)}")
    return 0


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


# -------------------------------------------------------------------- score
def run_score(args: argparse.Namespace) -> int:
    from nmt.translate import Translator

    sources, targets = read_lines(args.src), read_lines(args.tgt)
    if len(sources) != len(targets):
        raise NmtError(f"{args.src} has {len(sources)} lines but {args.tgt} has {len(targets)}")
    DecodeConfig.check("batch_size", args.batch_size)
    check_outputs({"--output": args.output})
    translator = Translator.from_run(args.run_dir, args.checkpoint, args.device, args.precision)
    scored = translator.score(sources, targets, batch_size=args.batch_size, progress=True)
    with _open_output(args.output) as out:
        for result in scored:
            out.write(f"{result.log_prob:.4f}\n")
    return 0


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


def _prompt() -> Iterator[str]:
    while True:
        try:
            yield input("> ")
        except EOFError:
            return


@contextmanager
def _open_output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a file for --output (written atomically, its folder created)."""
    if path is None:
        yield sys.stdout
        return
    with atomic_write(path) as file:
        yield file


# -------------------------------------------------------------------- align
def run_align(args: argparse.Namespace) -> int:
    from nmt.alignment.agreement import spearman
    from nmt.alignment.dump import record, write_jsonl, write_npz
    from nmt.alignment.plot import IndexEntry, heatmap, image_format, write_html_index
    from nmt.alignment.words import WordAlignment, word_alignment
    from nmt.translate import Translator

    config = decode_config(args)
    check_outputs({"--out": args.out})
    check_outputs({"--out-dir": args.out_dir}, folder=True)
    if args.out:
        image_format(args.out)
    translator = Translator.from_run(args.run_dir, args.checkpoint, args.device, args.precision)
    _select_attention(translator, args.layer, args.head)
    lines = args.sentences or read_lines(args.input)
    if not lines:
        raise NmtError("nothing to align: give sentences or --input FILE")
    _refuse_blank(lines, "sentence " if args.sentences else f"{args.input or '<stdin>'}:")
    targets = _given_targets(args, lines)
    if targets is None:
        best = [n[0] for n in translator.translate(lines, config, progress=True)]
    else:
        best = translator.score(lines, targets, batch_size=config.batch_size, progress=True)
    names = ["attention", "saliency"] if args.method == "both" else [args.method]
    shown = [_read_again(translator.run, best, name) for name in names]

    def table_of(h) -> WordAlignment:
        if args.subwords:
            return WordAlignment(h.src_tokens, h.tgt_tokens, h.attention.numpy())
        return word_alignment(h, clitics=not args.no_clitics, punctuation=args.punctuation)

    tables = [[table_of(h) for h in readings] for readings in zip(*shown, strict=True)]
    for hyp, sentence in zip(best, tables, strict=True):
        print(f"{hyp.source}\n{hyp.text}")
        for name, table in zip(names, sentence, strict=True):
            print(f"{name}:\n{format_table(table)}" if len(names) > 1 else format_table(table))
        if len(names) > 1:
            rho = spearman(sentence[0].matrix, sentence[1].matrix)
            print(f"attention vs saliency: Spearman rho {rho:.3f}")
        print()

    def draw(sentence: list[WordAlignment], path: Path) -> Path:
        first, *rest = sentence
        beside = [(name, t.matrix) for name, t in zip(names[1:], rest, strict=True)]
        title = names[0] if beside else None
        return heatmap(first.matrix, first.src_words, first.tgt_words, path, title, beside)

    if args.out:
        print(f"heatmap: {draw(tables[0], args.out)}")
    if args.out_dir:
        images = [draw(t, args.out_dir / f"{i:04d}.{args.format}") for i, t in enumerate(tables, 1)]
        for name, translations in zip(names, shown, strict=True):
            options = {"clitics": not args.no_clitics, "punctuation": args.punctuation}
            records = [record(h, **options) for h in translations]
            stem = "alignments" if name == "attention" else name
            write_jsonl(records, args.out_dir / f"{stem}.jsonl")
            write_npz(records, args.out_dir / f"{stem}.npz")
        entries = [IndexEntry(h.source, h.text, image) for h, image in zip(best, images, strict=True)]
        print(f"index: {write_html_index(entries, args.out_dir)}")
    return 0


def _refuse_blank(lines: list[str], where: str) -> None:
    """An ``NmtError`` naming the first line with no words (``where`` + its number): nothing to align."""
    from nmt.data.clean import normalize

    blank = next((number for number, line in enumerate(lines, 1) if not normalize(line)), None)
    if blank is not None:
        raise NmtError(f"{where}{blank} is empty: there is nothing to align")


def _given_targets(args: argparse.Namespace, lines: list[str]) -> list[str] | None:
    """The translations to align instead of the model's own (``--target``/``--tgt``), one per line of
    ``lines``, each pair non-empty; None when none are given."""
    if args.target and args.tgt:
        raise NmtError("--target and --tgt: give the translations one way")
    targets = args.target or (read_lines(args.tgt) if args.tgt else None)
    if targets is None:
        return None
    where = str(args.tgt) if args.tgt else "--target"
    if len(targets) != len(lines):
        raise NmtError(
            f"{where}: one translation per sentence: {len(lines)} sentence(s), {len(targets)} given"
        )
    for number, (source, target) in enumerate(zip(lines, targets, strict=True), 1):
        if not source.strip() or not target.strip():
            raise NmtError(f"{where}: pair {number} is empty on one side; there is nothing to align")
    return targets


def _read_again(run: Run, translations: list[Translation], method: str) -> list[Translation]:
    """The translations, each carrying as its attention its matrix under teacher forcing, as ``nmt
    aer`` reads them: the model's alignment map (``translation_attention``) or saliency."""
    from nmt.alignment.force import translation_attention
    from nmt.alignment.saliency import translation_saliency

    read = {"attention": translation_attention, "saliency": translation_saliency}[method]
    real = [h for h in translations if h.tgt_tokens]  # an empty line's translation has nothing to read
    matrices = iter(read(run, [(h.src_tokens, h.tgt_tokens) for h in real]))
    return [replace(h, attention=next(matrices)) if h.tgt_tokens else h for h in translations]


def format_table(table) -> str:
    """A word alignment as text: one row per target word, one column per source word, then each
    target word's strongest source word."""
    width = max(6, *(len(w) + 1 for w in table.src_words))
    first = max(len(w) for w in table.tgt_words) + 2 if table.tgt_words else 2
    lines = [" " * first + "".join(w.rjust(width) for w in table.src_words)]
    for word, row in zip(table.tgt_words, table.matrix, strict=True):
        lines.append(word.ljust(first) + "".join(f"{w:.2f}".rjust(width) for w in row))
    strongest = ", ".join(f"{t}→{s} {w:.2f}" for t, s, w in table.strongest_sources())
    return "\n".join([*lines, f"strongest: {strongest}"])


def _select_attention(translator, layer: int | None, head: int | None) -> None:
    """Point the model's alignment at one decoder layer / head (a model with one map has no other)."""
    if layer is None and head is None:
        return
    model = translator.model
    current_layer, current_head = model.alignment_map
    try:
        model.select_alignment(
            current_layer if layer is None else layer, head if head is not None else current_head
        )
    except ValueError as e:
        raise NmtError(f"--layer/--head: {e}") from None


# ---------------------------------------------------------------------- aer
def run_aer(args: argparse.Namespace) -> int:
    from statistics import mean, median

    from nmt.alignment.aer import check_gold, read_gold
    from nmt.alignment.score import (
        Reading,
        aer_rows,
        agreement,
        aligner_rows,
        as_trained,
        attention_readings,
        configured_map,
        diagonal_aer,
        links_of,
        word_matrices,
    )
    from nmt.data.pipeline import load_pairs

    if args.heads and "attention" not in args.method:
        raise NmtError("--heads scores attention maps: add --method attention")
    sources, targets = read_lines(args.src), read_lines(args.tgt)
    if len(sources) != len(targets):
        raise NmtError(f"{args.src} has {len(sources)} lines but {args.tgt} has {len(targets)}")
    gold = read_gold(args.gold, one_based=args.one_based)
    lengths = [len(s.split()) for s in sources], [len(t.split()) for t in targets]
    check_gold(args.gold, gold, *lengths, one_based=args.one_based)
    check_outputs({"RUN_DIR": args.run_dir / "aer.json"})
    run = _aligning_run(args.run_dir, args)
    matrices = word_matrices(run, sources, targets, args.method, args.heads)
    forward = links_of(matrices, args.links, args.threshold)
    backward = None
    if args.backward:
        backward_run = _aligning_run(args.backward, args)
        backward_matrices = word_matrices(backward_run, targets, sources, args.method, args.heads)
        backward = links_of(backward_matrices, args.links, args.threshold, flipped=True)
    readings = {*attention_readings(run), Reading("saliency")}
    rows = aer_rows({r: links for r, links in forward.items() if r in readings}, gold, backward)
    own = configured_map(run)  # no row of its own without --method attention: default None
    default = next((r for r in rows if tuple(r[k] for k in READING) == own), None)
    best = min(rows, key=lambda r: r["aer"])
    print(format_aer_rows(rows, default, best))
    report = {
        "gold": str(args.gold),
        "methods": args.method,
        "links": args.links,
        "threshold": args.threshold,
        "backward": str(args.backward) if args.backward else None,
        "default": default,
        "best": best,
        "rows": rows,
        "diagonal": diagonal_aer(sources, targets, gold),
    }
    if args.heads:
        heads = {r: links for r, links in forward.items() if r.method == "attention"}
        report["heads"] = aer_rows(heads, gold, backward)
        print("every decoder layer, its heads averaged and one by one (diagnostics: which map aligns):")
        print(format_aer_rows(report["heads"], None, min(report["heads"], key=lambda r: r["aer"])))
    if set(METHODS) <= set(args.method):
        rho = agreement(matrices[own], matrices[Reading("saliency")])
        report["agreement"] = {"spearman": rho, "mean": mean(rho), "median": median(rho)}
        print(
            f"attention ({default['layer']}, {default['head']}) vs saliency, Spearman rho per sentence: "
            f"mean {mean(rho):.3f}, median {median(rho):.3f}, min {min(rho):.3f}, max {max(rho):.3f}"
        )
    print(f"diagonal alignment (no model): AER {report['diagonal']:.3f}")
    if args.aligner:
        corpus = load_pairs(run.cfg, "train")
        report["aligner"] = aligner_rows(as_trained(run, sources), as_trained(run, targets), gold, corpus)
        scores = ", ".join(f"{name} {value:.3f}" for name, value in report["aligner"].items())
        pairs = f"{len(corpus)} training pairs + these {len(sources)}"
        print(f"statistical aligner (eflomal, {pairs}): AER {scores}")
    write_text(args.run_dir / "aer.json", json.dumps(report, indent=2) + "\n")
    return 0


READING = ("method", "layer", "head", "shifted")
SYMMETRIZED = ("backward", "intersection", "union", "grow-diag-final-and")


def format_aer_rows(rows: list[dict], default: dict | None, best: dict) -> str:
    """The AER table in Markdown; symmetrized columns when the rows have them."""
    extra = [name for name in SYMMETRIZED if any(name in row for row in rows)]
    head = ["reading", "layer", "head", "shifted", "AER", *extra]
    lines = ["| " + " | ".join(head) + " |", "|:---|---:|---:|:---:|" + "---:|" * (1 + len(extra))]
    for row in rows:
        marks = [name for name, chosen in (("default", default), ("best", best)) if row is chosen]
        mark = f" ({', '.join(marks)})" if marks else ""
        where = ["" if row[k] is None else str(row[k]) for k in ("layer", "head")]
        cells = [row["method"], *where, "yes" if row["shifted"] else "no", f"{row['aer']:.3f}{mark}"]
        cells += [f"{row[name]:.3f}" if name in row else "" for name in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _aligning_run(run_dir: Path, args: argparse.Namespace) -> Run:
    """The run at ``run_dir`` (checkpoint and device of ``args``), refused when its attention is uniform."""
    from nmt.rundir import load_run
    from nmt.runtime import resolve_device

    run = load_run(run_dir, args.checkpoint, resolve_device(args.device))
    if "attention" in args.method and not run.model.has_attention:
        raise NmtError(f"{run_dir}: model.attention is none (uniform weights): there is nothing to align")
    return run


# ----------------------------------------------------------------- evaluate
def run_evaluate(args: argparse.Namespace) -> int:
    from nmt.data.pipeline import load_pairs
    from nmt.evaluation.hypotheses import hyps_paths, translate_and_score
    from nmt.translate import Translator

    if bool(args.src) != bool(args.ref):
        raise NmtError("--src and --ref go together")
    config = decode_config(args)
    check_outputs({"RUN_DIR": args.run_dir / "hyps"}, folder=True)
    translator = Translator.from_run(args.run_dir, args.checkpoint, args.device, args.precision)
    if args.src:
        sources, refs, name = read_lines(args.src), read_lines(args.ref), args.src.name
        if len(sources) != len(refs):
            raise NmtError(f"{args.src} has {len(sources)} lines but {args.ref} has {len(refs)}")
    else:
        pairs = load_pairs(translator.run.cfg, args.split)
        sources, refs, name = [s for s, _ in pairs], [t for _, t in pairs], args.split
    _, report = translate_and_score(
        translator, sources, refs, name, config, checkpoint=args.checkpoint, progress=True
    )
    for metric in ("bleu", "chrf", "ter"):
        value = report[metric]
        print(
            f"{metric.upper() if metric != 'chrf' else 'chrF'} = {value['score']:.2f}  {value['signature']}"
        )
    print(f"hypotheses: {hyps_paths(args.run_dir, name, config)[0]}")
    return 0


# ------------------------------------------------------------------ compare
def run_compare(args: argparse.Namespace) -> int:
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


# ------------------------------------------------------------------ average
def run_average(args: argparse.Namespace) -> int:
    from nmt.training.average import average_run

    out, paths, notes = average_run(args.run_dir, args.last, args.best, args.out, args.allow_mixed)
    for note in notes:
        print(f"nmt average: note: {note}", file=sys.stderr)
    print(f"averaged {', '.join(p.name for p in paths)} -> {out}")
    print(f"use it with: nmt evaluate {args.run_dir} --checkpoint {out}")
    return 0


# -------------------------------------------------------------------- serve
def run_serve(args: argparse.Namespace) -> int:
    try:
        from nmt.serve.server import serve
    except ModuleNotFoundError as e:
        raise NmtError(f"nmt serve needs {e.name}: pip install 'nmt[serve]'") from None
    serve(args.run_dirs, args.host, args.port, args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
