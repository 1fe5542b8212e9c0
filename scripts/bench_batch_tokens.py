"""Decoding speed of ``--batch-size`` against ``--batch-tokens`` batches, alternating, on one run.

    python scripts/bench_batch_tokens.py RUN_DIR [--sentences 500] [--batch-tokens 600] [--repeats 3]

Translates the first ``--sentences`` Multi30k test sources (the run's data config) with greedy
search and beam 5, once with ``--batch-size`` 32 sentences a batch, once with ``--batch-tokens``
batches, in turn, ``--repeats`` times; prints the median sentences/s of each and their ratio, and
whether every output line is the same.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from nmt.data.pipeline import load_pairs
from nmt.decoding import DecodeConfig
from nmt.rundir import load_config
from nmt.translate import Translator


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run")
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--batch-tokens", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = load_config(args.run)
    sources = [src for src, _ in load_pairs(cfg.data, "test", cfg.cache_dir)][: args.sentences]
    translator = Translator.from_run(args.run, "best", "cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(sources)} sentences")
    print("\n| search | batch-size 32, sent/s | batch-tokens, sent/s | tokens / size | same output |")
    print("|---|---|---|---|---|")
    for beam in (1, 5):
        variants = {
            "size": DecodeConfig(beam=beam),
            "tokens": DecodeConfig(beam=beam, batch_tokens=args.batch_tokens),
        }
        speeds: dict[str, list[float]] = {name: [] for name in variants}
        outputs = {}
        for _ in range(args.repeats):
            for name, config in variants.items():
                start = time.perf_counter()
                outputs[name] = [n[0].text for n in translator.translate(sources, config)]
                speeds[name].append(len(sources) / (time.perf_counter() - start))
        size, tokens = (statistics.median(speeds[name]) for name in variants)
        same = outputs["size"] == outputs["tokens"]
        print(f"| beam {beam} | {size:,.1f} | {tokens:,.1f} | {tokens / size:.2f}x | {same} |", flush=True)


if __name__ == "__main__":
    main()
