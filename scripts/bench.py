"""Speed benchmark: training tokens/s per model and precision (decoding: scripts/bench_decode.py).

    python scripts/bench.py --train-models rnn_bahdanau transformer --steps 5

Training is timed on real Multi30k en-de batches (randomly initialised models, default sizes).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from nmt.config import register_configs
from nmt.data.batching import Batch, TokenBatches
from nmt.data.store import prepare_training_data
from nmt.data.vocab import PAD, Vocab
from nmt.models import build_model
from nmt.runtime import autocast

REPO = Path(__file__).resolve().parents[1]


def compose_config(*overrides: str) -> DictConfig:
    """The run config of ``nmt train data=multi30k_en_de OVERRIDES...``."""
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "nmt" / "configs"), version_base="1.3"):
        return compose("config", overrides=["data=multi30k_en_de", *overrides])


def train_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, dtype: torch.dtype | None
) -> float:
    """One full training step; returns its duration in seconds."""
    start = time.perf_counter()
    with autocast(torch.device("cpu"), dtype):
        logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
    loss = F.cross_entropy(logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def bench_training(models: list[str], steps: int, batch_tokens: int, tmp: Path) -> list[str]:
    """Median tokens/s (source + target, padding excluded) of full training steps, after a warm-up
    pass over the same batches."""
    data = prepare_training_data(compose_config("data.train.max_pairs=20000", f"run_dir={tmp}"))
    vocab = Vocab(data.vocab_models[0])
    batches = TokenBatches(data.corpus.src_lengths, data.corpus.tgt_lengths, batch_tokens, seed=0).batches()
    rows = []
    for name in models:
        cfg = compose_config(f"model={name}").model
        for dtype in (None, torch.bfloat16):
            torch.manual_seed(0)
            model = build_model(cfg, len(vocab), len(vocab), PAD).train()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            timed = [data.corpus.batch(indices) for indices in batches[:steps]]
            for batch in timed:  # warm-up: oneDNN prepares kernels once per shape, as training soon has
                train_step(model, optimizer, batch, dtype)
            speeds = [
                (batch.num_tokens + int(batch.src_mask.sum())) / train_step(model, optimizer, batch, dtype)
                for batch in timed
            ]
            precision = "bf16" if dtype else "fp32"
            rows.append(f"| train | {name} | {precision} | {statistics.median(speeds):,.0f} tokens/s |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-models", nargs="*", default=["rnn_bahdanau", "transformer"])
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per model and precision")
    parser.add_argument("--batch-tokens", type=int, default=8192)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    print("| what | model | setting | speed |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for row in bench_training(args.train_models, args.steps, args.batch_tokens, Path(tmp)):
            print(row, flush=True)


if __name__ == "__main__":
    main()
