"""Decoding speed: sentences/s and target tokens/s of greedy search, beam 5 and sampling.

    python scripts/bench_decode.py --run runs/multi30k_en_de/rnn_bahdanau \\
        --run runs/multi30k_en_de/transformer --ctranslate2
    python scripts/bench_decode.py --run runs/multi30k_en_de/transformer --profile   # where beam time goes

Every trained run translates Multi30k test_2016_flickr (1,000 sentences) in batches of 64 on the CPU
(``--device cuda``: the GPU), once with its incremental decoder (the prefix is never recomputed) and
once as the reference without it: at every step the model runs a full teacher-forced forward pass
(encoder included) over the prefix decoded so far and keeps the last position. Both go through the
same search loop, so their outputs are the same up to rounding (the table counts the lines identical
to the incremental decoder's, and shows BLEU). ``--ctranslate2`` adds, for Transformer runs, their
CTranslate2 exports (fp32 and int8, written to a temporary folder) decoding greedy and beam 5 with
as many threads as torch. A run's PyTorch decoders translate in turn, ``--repeat`` rounds after a
warm-up batch each, and each one's fastest pass counts, so that the ratios hold on a busy machine;
the CTranslate2 decoders are timed the same way after them, once ours are done (a live CTranslate2
translator slows PyTorch in the same process). Prints a Markdown table and the ratios the decoding
targets are about; ``--profile`` adds torch.profiler's most expensive operators of one beam-5 pass.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
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
from nmt.models.transformer import Transformer
from nmt.translate import Translation, Translator

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
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=["data=multi30k_en_de"])
    pairs = load_pairs(cfg.data, "test", cfg.cache_dir)
    return [s for s, _ in pairs], [t for _, t in pairs]


Translate = Callable[[list[str], DecodeConfig], list[list[Translation]]]


Timing = tuple[float, int, list[str]]
"""Seconds (the fastest pass), target tokens produced (EOS included), the translations."""


class Bench:
    """Times decoders on one test set, interleaved, and writes the table rows."""

    def __init__(self, sources: list[str], refs: list[str], batch_size: int, repeat: int) -> None:
        self.sources, self.refs, self.batch_size, self.repeat = sources, refs, batch_size, repeat
        self.rows: list[str] = []

    def time(self, decoders: dict[str, tuple[Translate, DecodeConfig]]) -> dict[str, Timing]:
        """Every decoder translates the sources ``repeat`` times, round-robin (so that a busy moment
        of a shared machine slows them all), after a warm-up batch each; the fastest pass counts."""
        runs = {
            label: (translate, DecodeConfig(**{**config.__dict__, "batch_size": self.batch_size}))
            for label, (translate, config) in decoders.items()
        }
        for translate, config in runs.values():
            translate(self.sources[: self.batch_size], config)  # warm-up: kernels for these shapes
        seconds: dict[str, float] = dict.fromkeys(runs, float("inf"))
        results: dict[str, list[list[Translation]]] = {}
        for _ in range(self.repeat):
            for label, (translate, config) in runs.items():
                start = time.perf_counter()
                results[label] = translate(self.sources, config)
                seconds[label] = min(seconds[label], time.perf_counter() - start)
        return {
            label: (seconds[label], sum(len(r[0].tgt_tokens) for r in found), [r[0].text for r in found])
            for label, found in results.items()
        }

    def row(self, model: str, search: str, decoder: str, timing: Timing, ours: list[str]) -> None:
        seconds, tokens, hyps = timing
        same = sum(a == b for a, b in zip(hyps, ours, strict=True))
        bleu = sacrebleu.corpus_bleu(hyps, [self.refs]).score
        n = len(self.sources)
        self.rows.append(
            f"| {model} | {search} | {decoder} | {n / seconds:,.1f} | {tokens / seconds:,.0f} "
            f"| {1000 * seconds / n:.2f} | {bleu:.2f} | {same}/{n} |"
        )


def bench_run(
    bench: Bench, run_dir: str, device: str, precision: str, recompute: bool, ctranslate2: bool
) -> list[str]:
    """Rows per strategy and decoder (incremental, recomputing, CTranslate2), and the ratios."""
    translator = Translator.from_run(run_dir, device=device, precision=precision)
    name = f"{translator.run.cfg.model.name} ({translator.precision})"
    decoders = {("incremental", s): (translator.translate, c) for s, c in STRATEGIES.items()}
    if recompute:
        reference = Translator(translator.run, Recompute(translator.model), precision)
        decoders |= {("no cache", s): (reference.translate, c) for s, c in STRATEGIES.items()}
    timings = bench.time(decoders)
    if ctranslate2 and isinstance(translator.model, Transformer):
        # Timed after ours, never interleaved with them: while a CTranslate2 translator lives, its
        # thread pool slows PyTorch in the same process (by about a quarter, measured on 2 cores).
        with tempfile.TemporaryDirectory() as folder:
            timings |= bench.time(ctranslate2_decoders(run_dir, Path(folder)))
    ours = {s: timings["incremental", s] for s in STRATEGIES}
    for (decoder, strategy), timing in timings.items():
        bench.row(name, strategy, decoder, timing, ours[strategy][2])
    notes = [f"{name}: sampling takes {ours['sampling'][0] / ours['greedy'][0]:.2f}x greedy's time"]
    for (decoder, strategy), timing in timings.items():
        if decoder == "no cache":
            notes.append(f"{name} {strategy}: the cache is {timing[0] / ours[strategy][0]:.2f}x faster")
        elif decoder != "incremental":
            notes.append(
                f"{name} {strategy}: {decoder} is {ours[strategy][0] / timing[0]:.2f}x as fast as ours"
            )
    return notes


def ctranslate2_decoders(run_dir: str, folder: Path) -> dict[tuple[str, str], tuple[Translate, DecodeConfig]]:
    """Greedy and beam 5 of the run's CTranslate2 exports (fp32, int8) written under ``folder``,
    with as many threads as torch."""
    from nmt.export import CTranslate2Translator, export_ctranslate2

    decoders = {}
    for quantization, label in (("float32", "ctranslate2 fp32"), ("int8", "ctranslate2 int8")):
        export = export_ctranslate2(run_dir, folder / quantization, quantization)
        engine = CTranslate2Translator(export, threads=torch.get_num_threads())
        for strategy in ("greedy", "beam 5"):
            decoders[label, strategy] = (engine.translate, STRATEGIES[strategy])
    return decoders


def profile_beam(
    run_dir: str, sources: list[str], batch_size: int, device: str, precision: str, top: int = 15
) -> str:
    """torch.profiler's operators by their own time (CPU, or GPU on a GPU) over one beam-5 pass of
    the first 256 sentences."""
    translator = Translator.from_run(run_dir, device=device, precision=precision)
    config = DecodeConfig(beam=5, batch_size=batch_size)
    translator.translate(sources[:batch_size], config)
    gpu = device.startswith("cuda")
    with profile(activities=[ProfilerActivity.CPU, *[ProfilerActivity.CUDA] * gpu]) as prof:
        translator.translate(sources[:256], config)
    sort = "self_cuda_time_total" if gpu else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", action="append", default=[], help="a trained Multi30k En-De run")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    parser.add_argument("--sentences", type=int, default=None, help="only the first N test sentences")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (our decoders; CTranslate2 on the CPU)")
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (our decoders)")
    parser.add_argument("--threads", type=int, default=None, help="torch and CTranslate2 threads")
    parser.add_argument("--repeat", type=int, default=1, help="passes per timing (the fastest counts)")
    parser.add_argument(
        "--ctranslate2", action="store_true", help="add the CTranslate2 exports of Transformer runs"
    )
    parser.add_argument(
        "--no-recompute", action="store_true", help="leave out the reference without the cache"
    )
    parser.add_argument("--profile", action="store_true", help="profile beam 5 of the first run")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sources, refs = test_set()
    sources, refs = sources[: args.sentences], refs[: args.sentences]
    bench = Bench(sources, refs, args.batch_size, args.repeat)
    setting = f"{torch.get_num_threads()} threads, {args.device}"
    print(f"torch {torch.__version__}, {setting}; {len(sources)} sentences\n")
    notes = [
        note
        for run in args.run
        for note in bench_run(
            bench, run, args.device, args.precision, not args.no_recompute, args.ctranslate2
        )
    ]
    print("| model | search | decoder | sentences/s | target tokens/s | ms/sentence | BLEU | same lines |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(bench.rows))
    print("\n" + "\n".join(notes))
    if args.profile and args.run:
        print("\n" + profile_beam(args.run[0], sources, args.batch_size, args.device, args.precision))


if __name__ == "__main__":
    main()
