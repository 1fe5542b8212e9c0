"""Saliency speed: the batched computation against one forward and backward pass per target word.

    python scripts/bench_saliency.py                         # the Hansards model's RNN, small sizes
    python scripts/bench_saliency.py --model transformer     # a small Transformer
    python scripts/bench_saliency.py --pairs 8 --profile     # where the batched computation's time goes

The Hansards trial pairs (``$NMT_DATA_DIR/alignments/en-fr/normalized/trial.en``/``.fr``, 37 pairs;
``--pairs`` takes the first N) are split into words, each word an id of a ``--vocab``-entry vocabulary
(so the output layer has a realistic size), and a randomly initialised model of small sizes reads
them. ``nmt.alignment.saliency.saliency_matrices`` (one forward pass per (sentence, draw), one
backward pass per target position) and ``saliency_matrices_per_word`` (one forward and backward pass
per (target word, draw) row, batched like the first version of saliency) compute the same matrices
from the same draws; they alternate for ``--repeats`` rounds so a busy machine slows both alike, and
each one's fastest round counts. Prints the seconds (wall clock, and the CPU time of this process,
which other jobs on a busy machine slow less), their ratios and the largest difference of the
matrices. ``--profile`` instead prints ``torch.profiler``'s table of the operators that one batched
computation spent its CPU time in.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from nmt.alignment.saliency import saliency_matrices, saliency_matrices_per_word
from nmt.config import register_configs
from nmt.data.vocab import PAD
from nmt.models import EncoderDecoder, build_model

REPO = Path(__file__).resolve().parents[1]
GOLD = Path(os.environ.get("NMT_DATA_DIR", REPO / "data")) / "alignments/en-fr/normalized"
SIZES = {  # small: minutes of the reference on 2 CPU cores, not hours
    "rnn": ["model.emb_dim=128", "model.hidden_dim=256", "model.attn_dim=128"],
    "transformer": ["model.d_model=128", "model.heads=4", "model.ffn_dim=512"],
}
Pairs = list[tuple[list[int], list[int]]]


def word_ids(src: Path, tgt: Path, count: int, vocab: int) -> Pairs:
    """The first ``count`` lines of ``src`` and ``tgt`` as ids: each distinct word in turn takes the
    next id after the specials (modulo ``vocab``)."""
    ids: dict[str, int] = {}

    def encode(line: str) -> list[int]:
        return [ids.setdefault(word, 4 + len(ids) % (vocab - 4)) for word in line.split()]

    sources, targets = src.read_text().splitlines()[:count], tgt.read_text().splitlines()[:count]
    return [(encode(s), encode(t)) for s, t in zip(sources, targets, strict=True)]


def small_model(name: str, vocab: int) -> EncoderDecoder:
    """A randomly initialised ``model=NAME`` of SIZES, in eval mode."""
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=[f"model={name}"]).model
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=[f"model={name}", *SIZES[cfg.arch]]).model
    torch.manual_seed(0)
    return build_model(cfg, vocab, vocab, PAD).eval()


def timed(compute: Callable[[], list[torch.Tensor]]) -> tuple[tuple[float, float], list[torch.Tensor]]:
    """Wall-clock and CPU seconds of one call of ``compute``, and its matrices."""
    start, cpu = time.perf_counter(), time.process_time()
    matrices = compute()
    return (time.perf_counter() - start, time.process_time() - cpu), matrices


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="rnn_bahdanau_conditional", help="a model config name")
    parser.add_argument("--src", type=Path, default=GOLD / "trial.en")
    parser.add_argument("--tgt", type=Path, default=GOLD / "trial.fr")
    parser.add_argument("--pairs", type=int, default=50, help="the first N pairs (default: all 37)")
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--samples", type=int, default=8, help="SmoothGrad draws")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--profile", action="store_true", help="profile one batched computation instead")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)  # as nmt aer runs it: saliency turns gradients on itself
    model, pairs = small_model(args.model, args.vocab), word_ids(args.src, args.tgt, args.pairs, args.vocab)
    if args.profile:
        with torch.profiler.profile() as profile:
            saliency_matrices(model, pairs, args.samples, generator=torch.Generator().manual_seed(0))
        print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        return
    ways = {"per word": saliency_matrices_per_word, "batched": saliency_matrices}
    seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    results = {}
    for _ in range(args.repeats):
        for name, compute in ways.items():
            generator = torch.Generator().manual_seed(0)
            elapsed, results[name] = timed(
                lambda c=compute, g=generator: c(model, pairs, args.samples, generator=g)
            )
            seconds[name].append(elapsed)
            print(f"  {name}: {elapsed[0]:.2f} s ({elapsed[1]:.2f} s CPU)", flush=True)
    words = sum(len(tgt) + 1 for _, tgt in pairs)
    threads = torch.get_num_threads()
    print(f"{args.model}, {len(pairs)} pairs, {words} target tokens, {args.samples} draws, {threads} threads")
    wall, cpu = ({name: min(t[k] for t in times) for name, times in seconds.items()} for k in (0, 1))
    for name in ways:
        print(f"{name}: {wall[name]:.2f} s, {cpu[name]:.2f} s CPU (the fastest of {args.repeats} rounds)")
    speed_ups = (wall["per word"] / wall["batched"], cpu["per word"] / cpu["batched"])
    print("speed-up: {:.1f}x wall clock, {:.1f}x CPU".format(*speed_ups))
    diff = max((a - b).abs().max().item() for a, b in zip(*results.values(), strict=True))
    print(f"max abs difference of the matrices: {diff:.2e}")


if __name__ == "__main__":
    main()
