"""Training speed: the trainer's own update step against plain PyTorch, and against the machine's peak.

    python scripts/bench.py                       # the table (a few minutes on 2 CPU cores)
    python scripts/bench.py --profile             # and torch.profiler's operators per step
    python scripts/bench.py --smoke               # tiny models and batches: seconds (CI)
    python scripts/bench.py --compile             # and our update compiled, fp32, with its padding share

For each model and precision (fp32, bf16 autocast) on real Multi30k en-de batches, randomly
initialised at the default sizes:

- **ours**: ``nmt.training.step.UpdateStep``, the update ``nmt train`` runs (label smoothing,
  clipping, AdamW, the precision handling); for a Transformer the faster of its fused attention
  kernel and plain matrix products, timed alike, as the trainer's probe picks (``unfused`` in the
  precision column when the matrix products won);
- **reference**: a plain PyTorch model of identical size (``torch.nn.Transformer``; for the RNN a
  GRU encoder-decoder with additive attention written out below), trained with the same loss,
  clipping and ``torch.optim.AdamW`` at its defaults;
- **peak**: a square matrix product (``--matmul``) in the same precision, measured in the same run.

Steps alternate between ours and the reference (after a warm-up pass over the same batches), so a
busy machine slows both alike. tokens/s counts real source and target tokens (padding excluded).
Model FLOPs per batch are counted from the model's dimensions (``nmt.models.flops``): 2 FLOPs per
multiply-add of every matrix product on real tokens, attention scores and context included, times 3
for the forward and backward passes. MFU = those FLOP/s over the peak. Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import copy
import functools
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from bench_kernels import CHANGES, aten_ops, without
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.config import register_configs
from nmt.data.batching import Batch, TokenBatches, pad_share
from nmt.data.store import prepare_training_data
from nmt.data.vocab import PAD, Vocab
from nmt.models import build_model
from nmt.models.flops import training_flops
from nmt.models.transformer import causal_mask, sinusoidal_positions
from nmt.runtime import autocast
from nmt.training.compile import CompiledLoss
from nmt.training.step import Speedups, UpdateStep, build_optimizer

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
SMOKE_MODEL = {  # the tests' tiny sizes
    "rnn": ["model.emb_dim=16", "model.hidden_dim=32", "model.attn_dim=16"],
    "transformer": ["model.d_model=32", "model.heads=2", "model.ffn_dim=64"],
}


def compose_config(*overrides: str) -> DictConfig:
    """The run config of ``nmt train data=multi30k_en_de OVERRIDES...``."""
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose("config", overrides=["data=multi30k_en_de", *overrides])


# --------------------------------------------------------------------------- plain references
class ReferenceTransformer(nn.Module):
    """``torch.nn.Transformer`` with the shape of ours: one shared embedding scaled by sqrt(D) plus
    sinusoidal positions, the output projection tied to it."""

    def __init__(self, cfg: Any, vocab: int) -> None:
        super().__init__()
        self.dim = cfg.d_model
        self.embed = nn.Embedding(vocab, cfg.d_model, padding_idx=PAD)
        nn.init.normal_(self.embed.weight, std=cfg.d_model**-0.5)
        self.register_buffer("positions", sinusoidal_positions(cfg.max_len, cfg.d_model), persistent=False)
        self.dropout = nn.Dropout(cfg.dropout)
        warnings.filterwarnings("ignore", "enable_nested_tensor")  # pre-norm layers cannot use it anyway
        self.core = nn.Transformer(
            cfg.d_model,
            cfg.heads,
            cfg.enc_layers,
            cfg.dec_layers,
            cfg.ffn_dim,
            cfg.dropout,
            activation=cfg.activation,
            batch_first=True,
            norm_first=cfg.pre_norm,
        )
        self.out = nn.Linear(cfg.d_model, vocab, bias=False)
        self.out.weight = self.embed.weight

    def _embed(self, tokens: Tensor) -> Tensor:
        return self.dropout(self.embed(tokens) * math.sqrt(self.dim) + self.positions[: tokens.shape[1]])

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """src, src_mask, tgt_in (B, S|T) -> logits (B, T, V)."""
        causal = ~causal_mask(tgt_in.shape[1], 0, tgt_in.device)[0]  # True where attention is not allowed
        hidden = self.core(
            self._embed(src),
            self._embed(tgt_in),
            tgt_mask=causal,
            src_key_padding_mask=~src_mask,
            memory_key_padding_mask=~src_mask,
            tgt_is_causal=True,
        )
        return self.out(hidden)


class ReferenceRNN(nn.Module):
    """A Bahdanau encoder-decoder written plainly, the size of ours: bidirectional GRU encoder,
    GRU-cell decoder fed [E y_{i-1}; c_i], additive attention from s_{i-1}, deep output, tied readout."""

    def __init__(self, cfg: Any, vocab: int) -> None:
        super().__init__()
        emb, hid, attn = cfg.emb_dim, cfg.hidden_dim, cfg.attn_dim
        self.src_embed = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.encoder = nn.GRU(emb, hid // 2, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(hid, hid)
        self.query, self.key = nn.Linear(hid, attn, bias=False), nn.Linear(hid, attn)
        self.energy = nn.Linear(attn, 1, bias=False)
        self.cell = nn.GRUCell(emb + hid, hid)
        self.combine = nn.Linear(2 * hid + emb, hid)
        self.readout = nn.Linear(hid, emb, bias=False)
        self.out = nn.Linear(emb, vocab)
        self.out.weight = self.tgt_embed.weight
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """src, src_mask, tgt_in (B, S|T) -> logits (B, T, V)."""
        lengths = src_mask.sum(1).cpu()
        packed = pack_padded_sequence(
            self.dropout(self.src_embed(src)), lengths, batch_first=True, enforce_sorted=False
        )
        packed_states, final = self.encoder(packed)
        states, _ = pad_packed_sequence(packed_states, batch_first=True, total_length=src.shape[1])
        state = torch.tanh(self.bridge(torch.cat([final[0], final[1]], -1)))
        keys, outputs = self.key(states), []
        for embedded in self.dropout(self.tgt_embed(tgt_in)).unbind(1):
            scores = self.energy(torch.tanh(self.query(state).unsqueeze(1) + keys)).squeeze(-1)
            weights = scores.float().masked_fill(~src_mask, float("-inf")).softmax(-1)
            context = torch.bmm(weights.to(states.dtype).unsqueeze(1), states).squeeze(1)
            state = self.cell(torch.cat([embedded, context], -1), state)
            outputs.append(torch.tanh(self.combine(torch.cat([state, context, embedded], -1))))
        return self.out(self.readout(self.dropout(torch.stack(outputs, 1))))


def reference_model(cfg: Any, vocab: int) -> nn.Module:
    return ReferenceTransformer(cfg, vocab) if cfg.arch == "transformer" else ReferenceRNN(cfg, vocab)


def reference_step(model: nn.Module, tc: Any, device: torch.device, dtype: torch.dtype | None) -> Callable:
    """The plain training step: autocast forward, fp32 label-smoothed loss, backward, clip, AdamW."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=tuple(tc.optimizer_betas))

    def step(batch: Batch) -> None:
        model.train()
        with autocast(device, dtype):
            logits = model(batch.src, batch.src_mask, batch.tgt_in)
        loss = F.cross_entropy(
            logits.float().flatten(0, 1),
            batch.tgt_out.flatten(),
            ignore_index=PAD,
            label_smoothing=tc.label_smoothing,
            reduction="sum",
        )
        optimizer.zero_grad(set_to_none=True)
        (loss / batch.num_tokens).backward()
        nn.utils.clip_grad_norm_(model.parameters(), tc.clip_norm)
        optimizer.step()

    return step


# --------------------------------------------------------------------------- FLOPs and peak
def matmul_peak(size: int, dtype: torch.dtype, device: torch.device, repeats: int = 5) -> float:
    """FLOP/s of the best of ``repeats`` (size x size) @ (size x size) products, after one warm-up."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    best = math.inf
    for _ in range(repeats + 1):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def peak_memory(
    cfg: DictConfig, vocab: int, device: torch.device, dtype: torch.dtype | None, batch: Batch
) -> int:
    """Peak bytes of GPU memory that our update on ``batch`` holds: weights, gradients, optimiser
    state and activations of a freshly built model (measured on its third update)."""
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    model = build_model(cfg.model, vocab, vocab, PAD).to(device)
    step = our_step(model, cfg.trainer, device, dtype, Speedups())
    for _ in range(2):
        step(batch)
    torch.cuda.reset_peak_memory_stats(device)
    step(batch)
    return torch.cuda.max_memory_allocated(device) - base


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- timing
def time_interleaved(
    variants: dict[str, Callable[[Batch], Any]], batches: list[Batch], device: torch.device
) -> dict[str, list[float]]:
    """Seconds per batch of each variant: one warm-up pass over the batches, then every batch run by
    each variant in turn."""
    for batch in batches:
        for run in variants.values():
            run(batch)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for batch in batches:
        for name, run in variants.items():
            synchronize(device)
            start = time.perf_counter()
            run(batch)
            synchronize(device)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def bench_model(
    name: str, args: argparse.Namespace, data_cfg: list[str], device: torch.device, peaks: dict[str, float]
) -> tuple[list[str], list[str], list[str]]:
    """Table rows of model ``name``: ours against the reference, per precision; ours against ours
    without each of the ``--ablate`` speed-ups; and, on a GPU, the peak memory of our update."""
    overrides = [f"model={name}"]
    if args.smoke:
        overrides += SMOKE_MODEL[compose_config(*overrides).model.arch]
    cfg = compose_config(*data_cfg, *overrides)
    data = prepare_training_data(cfg.data, cfg.cache_dir, cfg.run_dir)
    vocab = len(Vocab(data.vocab_models[1]))
    multiple = cfg.trainer.pad_to_multiple  # batches as training pads them
    order = TokenBatches(
        data.corpus.src_lengths, data.corpus.tgt_lengths, args.batch_tokens, seed=0, pad_to_multiple=multiple
    ).batches()
    batches = [data.corpus.batch(indices).padded_to(multiple).to(device) for indices in order[: args.steps]]
    real_tokens = [b.num_tokens + int(b.src_mask.sum()) for b in batches]
    flops = [training_flops(cfg.model, vocab, b.src_mask.sum(1), (b.tgt_out != PAD).sum(1)) for b in batches]
    rows, ablations, memory, ops = [], [], [], []
    if device.type == "cuda":
        largest = max(batches, key=lambda b: b.num_tokens + int(b.src_mask.sum()))
        memory = [
            f"| {name} | {precision} | {largest.num_tokens + int(largest.src_mask.sum()):,} "
            f"| {peak_memory(cfg, vocab, device, dtype, largest) / 2**30:.2f} |"
            for precision, dtype in PRECISIONS.items()
        ]
    for precision, dtype in PRECISIONS.items():
        torch.manual_seed(cfg.seed)
        ours = build_model(cfg.model, vocab, vocab, PAD).to(device)
        reference = reference_model(cfg.model, vocab).to(device)
        variants = {
            "ours": our_step(ours, cfg.trainer, device, dtype, Speedups()),
            "reference": reference_step(reference, cfg.trainer, device, dtype),
        }
        # The trainer's probe also times attention as plain matrix products (``fused_attention`` off)
        # and trains with the faster: so does the table.
        unfused = ["fused_attention"] if ours.has_fused_attention else []
        build = functools.partial(our_step, tc=cfg.trainer, device=device, dtype=dtype)
        for speedup in dict.fromkeys([*args.ablate, *unfused]):
            if speedup in CHANGES:
                variants[speedup] = without([speedup], ours, build)
            else:
                slower = replace(Speedups(), **{speedup: False})
                variants[speedup] = our_step(copy.deepcopy(ours), cfg.trainer, device, dtype, slower)
        if args.ops:
            before = without(list(CHANGES), ours, build)
            now, then = aten_ops(variants["ours"], batches[0]), aten_ops(before, batches[0])
            ops.append(f"| {name} | {precision} | {then:,} | {now:,} | {then / now:.2f}x |")
        seconds = time_interleaved(variants, batches, device)
        speed = {
            k: statistics.median(t / s for t, s in zip(real_tokens, v, strict=True))
            for k, v in seconds.items()
        }
        trained = max(["ours", *unfused], key=speed.__getitem__)
        ours_speed, reference_speed = speed[trained], speed["reference"]
        flop_rate = statistics.median(f / s for f, s in zip(flops, seconds[trained], strict=True))
        peak, label = peaks[precision], precision + (" unfused" if trained != "ours" else "")
        if args.profile:
            profile(name, label, variants[trained], batches[0])
        rows.append(
            f"| {device.type} | {name} | {model_size(ours)} / {model_size(reference)} | {label} "
            f"| {ours_speed:,.0f} | {reference_speed:,.0f} | {ours_speed / reference_speed:.2f}x "
            f"| {sum(flops) / sum(real_tokens) / 1e6:.1f} | {flop_rate / 1e9:,.0f} | {peak / 1e9:,.0f} "
            f"| {100 * flop_rate / peak:.1f}% |"
        )
        ablations += [
            f"| {device.type} | {name} | {precision} | {speedup} | {speed['ours']:,.0f} "
            f"| {speed[speedup]:,.0f} | {speed['ours'] / speed[speedup]:.2f}x |"
            for speedup in args.ablate
        ]
    return rows, ablations, memory, ops


def our_step(
    model: nn.Module,
    tc: Any,
    device: torch.device,
    dtype: torch.dtype | None,
    speedups: Speedups | None = None,
) -> Callable[[Batch], Any]:
    """The trainer's update (``UpdateStep``) on one batch at the configured learning rate."""
    update = UpdateStep(model, tc, device, dtype, speedups=speedups or Speedups())
    return lambda batch: update([batch], tc.lr)


def bench_compiled(
    name: str, args: argparse.Namespace, data_cfg: list[str], device: torch.device
) -> tuple[str, nn.Module, Any]:
    """The table row of model ``name`` in fp32: our update eager and compiled (``trainer.compile``) and
    the plain reference, tokens/s (timed interleaved after a warm-up pass, which compiles), batches
    padded to multiples of ``--compile-multiple``; and the compile time of the warm-up pass. Also
    returns our (eager) model and the trainer config, for ``bench_compiled_optimizer``."""
    overrides = [f"model={name}", *args.model_overrides]
    if args.smoke:
        overrides += SMOKE_MODEL[compose_config(f"model={name}").model.arch]
    cfg = compose_config(*data_cfg, *overrides)
    data = prepare_training_data(cfg.data, cfg.cache_dir, cfg.run_dir)
    vocab, multiple = len(Vocab(data.vocab_models[1])), args.compile_multiple
    lengths = data.corpus.src_lengths, data.corpus.tgt_lengths
    order = TokenBatches(*lengths, args.batch_tokens, seed=0, pad_to_multiple=multiple).batches()
    order = order[: args.steps]
    batches = [data.corpus.batch(indices).padded_to(multiple).to(device) for indices in order]
    real_tokens = [b.num_tokens + int(b.src_mask.sum()) for b in batches]
    shapes = {(*b.src.shape, b.tgt_in.shape[1]) for b in batches}
    padding = f"{100 * pad_share(*lengths, order, multiple):.1f} / {100 * pad_share(*lengths, order):.1f}"
    torch.manual_seed(cfg.seed)
    ours = build_model(cfg.model, vocab, vocab, PAD).to(device)
    compiled = UpdateStep(copy.deepcopy(ours), cfg.trainer, device, None, loss=CompiledLoss)
    variants = {
        "eager": our_step(ours, cfg.trainer, device, None, Speedups()),
        "compiled": lambda batch: compiled([batch], cfg.trainer.lr),
        "reference": reference_step(reference_model(cfg.model, vocab).to(device), cfg.trainer, device, None),
    }
    seconds = time_interleaved(variants, batches, device)
    speed = {
        k: statistics.median(t / s for t, s in zip(real_tokens, v, strict=True)) for k, v in seconds.items()
    }
    return (
        f"| {device.type} | {name} | {model_size(ours)} | {len(batches)} / {len(shapes)} | {padding} "
        f"| {speed['eager']:,.0f} | {speed['compiled']:,.0f} | {speed['reference']:,.0f} "
        f"| {speed['compiled'] / speed['eager']:.2f}x | {compiled.loss.compile_seconds:.1f} "
        f"({compiled.loss.graphs} graphs) |",
        ours,
        cfg.trainer,
    )


def bench_compiled_optimizer(model: nn.Module, tc: Any, device: torch.device, steps: int) -> str:
    """The table row of AdamW's step on ``model``'s parameters (random gradients): the fused kernel
    (what ``UpdateStep`` runs) against the per-parameter one compiled with ``torch.compile``, and the
    compile time (the compiled step's first call less one compiled step)."""
    twin = copy.deepcopy(model)  # a deep copy has no gradients: both get theirs after it
    for parameter, twin_parameter in zip(model.parameters(), twin.parameters(), strict=True):
        parameter.grad = torch.randn_like(parameter)
        twin_parameter.grad = parameter.grad.clone()
    fused = build_optimizer(model, tc, fused=True)
    plain = build_optimizer(twin, tc, fused=False)
    compiled_step = torch.compile(plain.step)
    start = time.perf_counter()
    compiled_step()
    first = time.perf_counter() - start
    variants = {"fused": lambda _: fused.step(), "compiled": lambda _: compiled_step()}
    seconds = time_interleaved(variants, [None] * steps, device)
    fused_ms, compiled_ms = (1000 * statistics.median(seconds[k]) for k in ("fused", "compiled"))
    return (
        f"| {model_size(model)} | {fused_ms:.2f} | {compiled_ms:.2f} | {fused_ms / compiled_ms:.2f}x "
        f"| {first - compiled_ms / 1000:.1f} |"
    )


def print_compiled(args: argparse.Namespace, data_cfg: list[str], device: torch.device) -> None:
    """The ``--compile`` table: eager, compiled and reference tokens/s per model, and compile time."""
    setting = f"{torch.get_num_threads()} threads, {args.batch_tokens:,} tokens a batch, fp32"
    print(f"torch {torch.__version__}, {setting}, lengths padded to multiples of {args.compile_multiple}")
    print(
        "\n| device | model | parameters | batches / shapes | padding, % (rounded / exact) | eager tokens/s "
        "| compiled tokens/s | reference tokens/s | compiled / eager | compile time, s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    models = []
    for name in args.models:
        row, model, tc = bench_compiled(name, args, data_cfg, device)
        print(row, flush=True)
        models.append((model, tc))
    print("\n| parameters | AdamW step, fused kernel, ms | compiled, ms | fused / compiled | compile, s |")
    print("|---|---|---|---|---|")
    for model, tc in models:
        print(bench_compiled_optimizer(model, tc, device, args.steps), flush=True)


def model_size(model: nn.Module) -> str:
    count = sum(p.numel() for p in model.parameters())
    return f"{count / 1e6:.1f}M" if count >= 1e5 else f"{count / 1e3:.0f}k"


def profile(name: str, precision: str, step: Callable[[Batch], Any], batch: Batch) -> None:
    """torch.profiler's operators of two steps (after one warm-up), by their own CPU time."""
    step(batch)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if batch.src.is_cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(2):
            step(batch)
    sort = "self_cuda_time_total" if batch.src.is_cuda else "self_cpu_time_total"
    print(f"\n### {name}, {precision}: operators of 2 steps\n")
    print(prof.key_averages().table(sort_by=sort, row_limit=15), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", nargs="*", help="default: transformer rnn_bahdanau (on a GPU also transformer_base)"
    )
    parser.add_argument("--steps", type=int, default=6, help="timed steps per model, precision and variant")
    parser.add_argument("--batch-tokens", type=int, help="source + target tokens a batch (8,192; GPU 25,000)")
    parser.add_argument("--matmul", type=int, help="size of the square peak matmul (2048; GPU 8192)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's operator table")
    parser.add_argument(
        "--ablate",
        nargs="*",
        default=[],
        choices=[field.name for field in fields(Speedups)] + list(CHANGES),
        help="also time ours without these speed-ups (interleaved with the rest)",
    )
    parser.add_argument(
        "--ops", action="store_true", help="ATen operators per step, now and with every kernel change undone"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny models, data and batches: seconds")
    parser.add_argument("--compile", action="store_true", help="only the table of the compiled update")
    parser.add_argument("--compile-multiple", type=int, default=16, help="--compile's length multiple")
    parser.add_argument("--model-overrides", nargs="*", default=[], help="e.g. model.enc_layers=2")
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    args.models = args.models or ["transformer_base"] * gpu + ["transformer", "rnn_bahdanau"]
    args.batch_tokens = args.batch_tokens or (25_000 if gpu else 8192)
    args.matmul = args.matmul or (8192 if gpu else 2048)
    if args.smoke:
        args.steps, args.batch_tokens, args.matmul = 1, min(args.batch_tokens, 600), min(args.matmul, 256)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        data_cfg = [f"run_dir={tmp}", f"data.train.max_pairs={500 if args.smoke else 20000}"]
        if args.smoke:
            data_cfg.append("data.spm.vocab_size=400")
        if args.compile:
            print_compiled(args, data_cfg, device)
            return
        peaks = {
            precision: matmul_peak(args.matmul, dtype or torch.float32, device)
            for precision, dtype in PRECISIONS.items()
        }
        setting = f"{torch.get_num_threads()} threads, {device.type}, {args.batch_tokens:,} tokens a batch"
        print(f"torch {torch.__version__}, {setting}")
        print(
            "\n| device | model | parameters (ours / reference) | precision | ours tokens/s "
            "| reference tokens/s | ours / reference | MFLOP per token | ours GFLOP/s "
            "| matmul peak GFLOP/s | MFU |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
        ablations, memory, ops = [], [], []
        for name in args.models:
            rows, more, held, counted = bench_model(name, args, data_cfg, device, peaks)
            print("\n".join(rows), flush=True)
            ablations += more
            memory += held
            ops += counted
        print(f"\n(peak: the best of 5 {args.matmul}^3 matrix products per precision, in this run)")
        if ablations:
            print("\n| device | model | precision | speed-up | with, tokens/s | without, tokens/s | gain |")
            print("|---|---|---|---|---|---|---|")
            print("\n".join(ablations))
        if ops:
            undone = ", ".join(CHANGES)
            print(f"\n| model | precision | aten ops per step, before ({undone} undone) | now | fewer |")
            print("|---|---|---|---|---|")
            print("\n".join(ops))
        if memory:
            print("\n| model | precision | batch tokens | peak GPU memory of our update, GiB |")
            print("|---|---|---|---|")
            print("\n".join(memory))


if __name__ == "__main__":
    main()
