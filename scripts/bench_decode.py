"""Decoding speed: sentences/s and target tokens/s of greedy search, beam 5 and sampling.

    python scripts/bench_decode.py --run runs/multi30k_en_de/rnn_bahdanau \\
        --run runs/multi30k_en_de/transformer
    python scripts/bench_decode.py --run runs/multi30k_en_de/transformer --profile   # where beam time goes

Every trained run translates Multi30k test_2016_flickr (1,000 sentences) in batches of 64 on the
CPU, once with its incremental decoder (the prefix is never recomputed) and once as the reference
without it: at every step the model runs a full teacher-forced forward pass (encoder included) over
the prefix decoded so far and keeps the last position. Both go through the same search loop, so
their outputs are the same (the table shows BLEU for both). Prints a Markdown table; ``--profile``
adds torch.profiler's most expensive operators of one beam-5 pass.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import sacrebleu
import torch
from hydra import compose, initialize_config_dir
from torch import Tensor
from torch.profiler import ProfilerActivity, profile

from nmt.config import register_configs
from nmt.data.pipeline import load_pairs
from nmt.decoding import DecodeConfig
from nmt.models import EncoderDecoder, State
from nmt.translate import Translator

REPO = Path(__file__).resolve().parents[1]
STRATEGIES = {
    "greedy": DecodeConfig(beam=1),
    "beam 5": DecodeConfig(beam=5),
    "sampling": DecodeConfig(sampling=True, seed=1),
}


class Recompute(EncoderDecoder):
    """``model`` without its incremental cache: every step reruns the whole model over the prefix."""

    def __init__(self, model: EncoderDecoder) -> None:
        super().__init__()
        self.model, self.specials, self.pad_id = model, model.specials, model.pad_id
        self.max_positions, self.prefers_bf16_on_cpu = model.max_positions, model.prefers_bf16_on_cpu

    @property
    def attention_grid(self) -> tuple[int, int]:
        return self.model.attention_grid

    def attention_maps(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        return self.model.attention_maps(src, src_mask, tgt_in)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, *, attention: bool = False):
        return self.model(src, src_mask, tgt_in, attention=attention)

    def encode(self, src: Tensor, src_mask: Tensor) -> State:
        return {"src": src, "src_mask": src_mask}

    def init_state(self, encoded: State) -> State:
        return {**encoded, "prefix": encoded["src"][:, :0]}

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, Tensor, State]:
        prefix = torch.cat([state["prefix"], tokens.unsqueeze(1)], 1)
        logits, attention = self.model(state["src"], state["src_mask"], prefix, attention=True)
        log_probs = logits[:, -1].float().log_softmax(-1)
        return log_probs, attention[:, -1], {**state, "prefix": prefix}


def test_set() -> tuple[list[str], list[str]]:
    """Multi30k En-De test_2016_flickr: sources and references."""
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "nmt" / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=["data=multi30k_en_de"])
    pairs = load_pairs(cfg, "test")
    return [s for s, _ in pairs], [t for _, t in pairs]


def timed(translator: Translator, sources: list[str], config: DecodeConfig) -> tuple[float, int, list[str]]:
    """Seconds to translate ``sources``, target tokens produced (EOS included), the translations."""
    translator.translate(sources[: config.batch_size], config)  # warm-up: kernels for these shapes
    start = time.perf_counter()
    results = translator.translate(sources, config)
    seconds = time.perf_counter() - start
    return seconds, sum(len(r[0].tgt_tokens) for r in results), [r[0].text for r in results]


def bench_run(run_dir: str, sources: list[str], refs: list[str], batch_size: int) -> list[str]:
    """One table row per strategy and decoder (incremental, recomputing)."""
    translator = Translator.from_run(run_dir, device="cpu")
    reference = Translator(translator.run, Recompute(translator.model))
    name, rows = translator.run.cfg.model.name, []
    for strategy, config in STRATEGIES.items():
        config = DecodeConfig(**{**config.__dict__, "batch_size": batch_size})
        cached = timed(translator, sources, config)
        again = timed(reference, sources, config)
        for label, (seconds, tokens, hyps) in (("incremental", cached), ("no cache", again)):
            bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
            rows.append(
                f"| {name} | {strategy} | {label} | {len(sources) / seconds:,.1f} | {tokens / seconds:,.0f} "
                f"| {1000 * seconds / len(sources):.2f} | {bleu:.2f} |"
            )
        rows.append(f"| {name} | {strategy} | speed-up of the cache | {again[0] / cached[0]:.2f}x | | | |")
    return rows


def profile_beam(run_dir: str, sources: list[str], batch_size: int, top: int = 15) -> str:
    """torch.profiler's operators by self CPU time over one beam-5 pass of the first 256 sentences."""
    translator = Translator.from_run(run_dir, device="cpu")
    config = DecodeConfig(beam=5, batch_size=batch_size)
    translator.translate(sources[:batch_size], config)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        translator.translate(sources[:256], config)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", action="append", default=[], help="a trained Multi30k En-De run")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    parser.add_argument("--sentences", type=int, default=None, help="only the first N test sentences")
    parser.add_argument("--profile", action="store_true", help="profile beam 5 of the first run")
    args = parser.parse_args()
    sources, refs = test_set()
    sources, refs = sources[: args.sentences], refs[: args.sentences]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {len(sources)} sentences\n")
    print("| model | search | decoder | sentences/s | target tokens/s | ms/sentence | BLEU |")
    print("|---|---|---|---:|---:|---:|---:|")
    for run in args.run:
        for row in bench_run(run, sources, refs, args.batch_size):
            print(row, flush=True)
    if args.profile and args.run:
        print("\n" + profile_beam(args.run[0], sources, args.batch_size))


if __name__ == "__main__":
    main()
