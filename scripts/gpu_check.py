"""Every GPU figure of the training and decoding speed, in one run of at most 8 minutes.

    python scripts/gpu_check.py --run runs/multi30k_en_de/transformer     # on a GPU
    python scripts/gpu_check.py --smoke --out /tmp/check [--run RUN]      # CPU, tiny sizes: seconds

Writes ``results.json`` (every raw figure) and ``results.md`` (the tables) into ``--out`` (default
``data/results/gpu_<device>/``), atomically, after checking that it may before measuring anything:

- **peak**: the best of 5 square matrix products per precision, measured in this run;
- **training**: the update ``nmt train`` runs (``UpdateStep``) on real Multi30k en-de batches of
  transformer_base, transformer, rnn_bahdanau and the default RNN (rnn_bahdanau_lexical), randomly
  initialised at their default sizes, in fp32 and bf16, eager and (when the trainer config has
  ``trainer.compile``) compiled: tokens/s (source + target, padding excluded), MFU (the model FLOPs
  of ``scripts/bench.py``'s ``training_flops`` over the peak) and the peak memory of the update;
- **decoding** (with ``--run``): the run's model on the first 500 Multi30k test sources, greedy
  and beam 5 at several batch sizes: sentences/s and output tokens/s;
- **ctranslate2** (with ``--run`` of a Transformer and ``ctranslate2`` installed): the same
  sentences through its export on the same device.

A section that would start after the time budget (``--minutes``) is recorded as skipped, not run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench import PRECISIONS, SMOKE_MODEL, compose_config, matmul_peak, our_step, synchronize

from nmt.data.batching import TokenBatches
from nmt.data.pipeline import load_pairs
from nmt.data.store import prepare_training_data
from nmt.data.vocab import PAD, Vocab
from nmt.decoding import DecodeConfig
from nmt.models import build_model
from nmt.models.flops import training_flops
from nmt.outputs import check_output, write_text

REPO = Path(__file__).resolve().parents[1]
MODELS = ["transformer_base", "transformer", "rnn_bahdanau", "rnn_bahdanau_lexical"]
SMOKE_MODELS = ["transformer", "rnn_bahdanau"]


class Budget:
    """The seconds left of ``--minutes``, and what was skipped for want of them."""

    def __init__(self, minutes: float) -> None:
        self.end, self.skipped = time.monotonic() + 60 * minutes, []

    def allows(self, what: str) -> bool:
        if time.monotonic() < self.end:
            return True
        self.skipped.append(what)
        return False


def device_slug(device: torch.device) -> str:
    """``gpu_<name>`` folder part: the GPU's name (``cpu`` on the CPU) in lower case, dashes only."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def training_row(
    name: str, precision: str, mode: str, args: argparse.Namespace, device: torch.device
) -> dict:
    """One model, precision and mode (eager or compiled): median tokens/s, MFU, peak memory."""
    overrides = [
        f"model={name}",
        f"run_dir={args.tmp}",
        f"data.train.max_pairs={500 if args.smoke else 20000}",
    ]
    if args.smoke:
        overrides += [*SMOKE_MODEL[compose_config(f"model={name}").model.arch], "data.spm.vocab_size=400"]
    if mode == "compiled":
        overrides.append("trainer.compile=true")
    cfg = compose_config(*overrides)
    data = prepare_training_data(cfg.data, cfg.cache_dir, cfg.run_dir)
    vocab = len(Vocab(data.vocab_models[1]))
    multiple = cfg.trainer.pad_to_multiple
    order = TokenBatches(
        data.corpus.src_lengths, data.corpus.tgt_lengths, args.batch_tokens, seed=0, pad_to_multiple=multiple
    ).batches()
    batches = [data.corpus.batch(i).padded_to(multiple).to(device) for i in order[: args.steps + 2]]
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, vocab, vocab, PAD).to(device)
    step = our_step(model, cfg.trainer, device, PRECISIONS[precision])
    for batch in batches[:2]:  # warm-up (and compilation)
        step(batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    speeds, flop_rates = [], []
    for batch in batches[2:]:
        synchronize(device)
        start = time.perf_counter()
        step(batch)
        synchronize(device)
        seconds = time.perf_counter() - start
        speeds.append((batch.num_tokens + int(batch.src_mask.sum())) / seconds)
        lengths = batch.src_mask.sum(1), (batch.tgt_out != PAD).sum(1)
        flop_rates.append(training_flops(cfg.model, vocab, *lengths) / seconds)
    peak = args.peaks[precision]
    return {
        "model": name,
        "precision": precision,
        "mode": mode,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokens_per_s": statistics.median(speeds),
        "gflop_per_s": statistics.median(flop_rates) / 1e9,
        "mfu": statistics.median(flop_rates) / peak,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def decoding_rows(args: argparse.Namespace, sources: list[str], budget: Budget) -> list[dict]:
    """``nmt translate``'s path on ``sources``: greedy and beam 5 at each of ``args.decode_batches``."""
    from nmt.translate import Translator

    translator = Translator.from_run(args.run, "best", args.device)
    rows = []
    for beam in (1, 5):
        for batch_size in args.decode_batches:
            if not budget.allows(f"decoding beam {beam} batch {batch_size}"):
                continue
            config = DecodeConfig(beam=beam, batch_size=batch_size)
            translator.translate(sources[:batch_size], config)  # warm-up
            synchronize(args.device)
            start = time.perf_counter()
            found = translator.translate(sources, config)
            synchronize(args.device)
            seconds = time.perf_counter() - start
            tokens = sum(len(nbest[0].tgt_tokens) for nbest in found)
            rows.append(_decoding(args.engine_name, beam, batch_size, len(sources), tokens, seconds))
    return rows


def ctranslate2_rows(args: argparse.Namespace, sources: list[str], budget: Budget) -> list[dict]:
    """The same sentences through ``nmt export --format ctranslate2`` on the same device."""
    import ctranslate2

    from nmt.data.vocab import EOS_PIECE
    from nmt.export import export_ctranslate2
    from nmt.rundir import load_run

    folder = export_ctranslate2(args.run, Path(args.tmp) / "ct2")
    vocab = load_run(args.run, "best", "cpu").src_vocab
    pieces = [[*vocab.pieces(ids), EOS_PIECE] for ids in vocab.encode(sources)]
    translator = ctranslate2.Translator(str(folder), device=args.device.type)
    rows = []
    for beam in (1, 5):
        for batch_size in args.decode_batches:
            if not budget.allows(f"ctranslate2 beam {beam} batch {batch_size}"):
                continue
            start = time.perf_counter()
            found = translator.translate_batch(pieces, beam_size=beam, max_batch_size=batch_size)
            seconds = time.perf_counter() - start
            tokens = sum(len(result.hypotheses[0]) + 1 for result in found)  # + EOS, as ours count
            rows.append(_decoding("ctranslate2", beam, batch_size, len(sources), tokens, seconds))
    return rows


def _decoding(engine: str, beam: int, batch_size: int, sentences: int, tokens: int, seconds: float) -> dict:
    return {
        "engine": engine,
        "beam": beam,
        "batch_size": batch_size,
        "sentences_per_s": sentences / seconds,
        "tokens_per_s": tokens / seconds,
    }


def markdown(results: dict) -> str:
    """The tables of ``results``, with the command and machine that produced them."""
    lines = [
        f"# Speed on {results['device']}",
        "",
        f"`{results['command']}`, {results['date']}, torch {results['torch']}.",
        "",
        "| precision | matmul peak TFLOP/s |",
        "|---|---|",
        *(f"| {p} | {flops / 1e12:,.1f} |" for p, flops in results["peak"].items()),
        "",
        "| model | parameters | precision | mode | tokens/s | GFLOP/s | MFU | peak memory GiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["training"]:
        memory = "" if r["peak_memory_gib"] is None else f"{r['peak_memory_gib']:.2f}"
        lines.append(
            f"| {r['model']} | {r['parameters'] / 1e6:.1f}M | {r['precision']} | {r['mode']} "
            f"| {r['tokens_per_s']:,.0f} | {r['gflop_per_s']:,.0f} | {100 * r['mfu']:.1f}% | {memory} |"
        )
    if results["decoding"]:
        lines += ["", "| engine | beam | batch size | sentences/s | tokens/s |", "|---|---|---|---|---|"]
        lines += [
            f"| {r['engine']} | {r['beam']} | {r['batch_size']} | {r['sentences_per_s']:,.1f} "
            f"| {r['tokens_per_s']:,.0f} |"
            for r in results["decoding"]
        ]
    lines += ["", *(f"- not measured: {note}" for note in results["skipped"])]
    return "\n".join(lines).rstrip() + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, help="results folder (default data/results/gpu_<device>)")
    parser.add_argument("--run", type=Path, help="a trained run to time decoding (and CTranslate2) with")
    parser.add_argument("--minutes", type=float, default=7.0, help="no section starts after this long")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny models and batches: seconds")
    args = parser.parse_args()
    args.device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    args.steps, args.batch_tokens, args.matmul = (1, 600, 256) if args.smoke else (10, 25_000, 8192)
    args.decode_batches = [1, 4] if args.smoke else [1, 16, 64, 256]
    args.sentences = 8 if args.smoke else 500
    args.engine_name = "nmt"
    args.out = args.out or REPO / "data" / "results" / f"gpu_{device_slug(args.device)}"
    return args


def main() -> None:
    args = parse_args()
    check_output(args.out / "results.json", "--out")  # before a minute is spent measuring
    budget = Budget(args.minutes)
    results: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": torch.cuda.get_device_name(args.device) if args.device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "peak": {
            p: matmul_peak(args.matmul, dtype or torch.float32, args.device)
            for p, dtype in PRECISIONS.items()
        },
        "training": [],
        "decoding": [],
    }
    args.peaks = results["peak"]
    compiled = "compile" in compose_config().trainer
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        for name in SMOKE_MODELS if args.smoke else MODELS:
            for precision in PRECISIONS:
                for mode in ["eager", "compiled"] if compiled else ["eager"]:
                    if budget.allows(f"training {name} {precision} {mode}"):
                        results["training"].append(training_row(name, precision, mode, args, args.device))
                        print(results["training"][-1], flush=True)
        if args.run is None:
            budget.skipped.append("decoding: no --run given")
        else:
            cfg = compose_config(f"run_dir={tmp}")
            sources = [src for src, _ in load_pairs(cfg.data, "test", cfg.cache_dir)][: args.sentences]
            results["decoding"] += decoding_rows(args, sources, budget)
            results["decoding"] += ctranslate2_section(args, sources, budget)
    results["skipped"] = budget.skipped
    write_text(args.out / "results.json", json.dumps(results, indent=2) + "\n")
    write_text(args.out / "results.md", markdown(results))
    print(markdown(results))


def ctranslate2_section(args: argparse.Namespace, sources: list[str], budget: Budget) -> list[dict]:
    """CTranslate2's rows, or none and the reason in ``budget.skipped``."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        budget.skipped.append("ctranslate2: not installed")
        return []
    from nmt.errors import NmtError

    try:
        return ctranslate2_rows(args, sources, budget)
    except NmtError as e:  # an RNN run: CTranslate2 runs Transformers only
        budget.skipped.append(f"ctranslate2: {e}")
        return []


if __name__ == "__main__":
    main()
