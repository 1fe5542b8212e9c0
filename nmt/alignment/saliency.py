"""Gradient saliency alignment (Ding et al. 2019): which source words a target word's probability
depends on, for any model, read through its ``source_tap`` (``nmt.models.base``).

Under teacher forcing, the saliency of source token s for target token t is

    |ḡ_ts · e_s|,   ḡ_ts = mean over n of ∂ log p(y_t | y_<t, x) / ∂e_s  at  e + ε_n

where e_s = E x_s is the looked-up source embedding and ε_n ~ N(0, σ²) (SmoothGrad, Smilkov et al.
2017; σ = ``noise`` × (max − min) of the sentence's embeddings, ``samples`` draws). The dot product
with the embedding is gradient × input; since it is linear in the gradient, it is averaged per draw.
Each row is then divided by its sum, so it is a distribution over the source tokens like a row of
attention (uniform if every score is 0). Matrices have the shape of the attention maps of
``nmt.alignment.force``: (target pieces + "</s>", source pieces + "</s>").

Every (sentence, target position, draw) is one row of a batch, so one backward pass gives many
gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from nmt.alignment.force import piece_ids
from nmt.data.batching import Batch, make_batch
from nmt.models import EncoderDecoder
from nmt.rundir import Run

SAMPLES = 8
NOISE = 0.15
TOKENS_PER_PASS = 8192  # rows x target length in one forward/backward pass (bounds the logits' memory)

Pair = tuple[Sequence[int], Sequence[int]]


def saliency_matrices(
    model: EncoderDecoder,
    pairs: Sequence[Pair],
    samples: int = SAMPLES,
    noise: float = NOISE,
    generator: torch.Generator | None = None,
) -> list[Tensor]:
    """Saliency of sentence pairs of ids (no BOS/EOS): one (len(tgt) + 1, len(src) + 1) float32 matrix
    on the CPU per pair, rows summing to 1. ``model`` should be in eval mode (no dropout).

    Every (pair, target position, draw) is one row of a batch; rows are cut into passes of at most
    TOKENS_PER_PASS target tokens.
    """
    device = next(model.parameters()).device
    rows = [(i, t) for i, (_, tgt) in enumerate(pairs) for t in range(len(tgt) + 1) for _ in range(samples)]
    totals = [np.zeros((len(tgt) + 1, len(src) + 1)) for src, tgt in pairs]
    passes = _passes(rows, [len(tgt) + 1 for _, tgt in pairs])
    for chunk in tqdm(passes, desc="saliency", unit=" passes", leave=False, disable=None):  # None: a TTY only
        batch = make_batch([pairs[i][0] for i, _ in chunk], [pairs[i][1] for i, _ in chunk]).to(device)
        positions = torch.tensor([t for _, t in chunk], device=device)
        scores = _gradient_times_input(model, batch, positions, noise, generator).cpu().numpy()
        for (i, t), row in zip(chunk, scores, strict=True):
            totals[i][t] += row[: totals[i].shape[1]]
    return [_rows_normalised(torch.from_numpy(np.abs(total / samples)).float()) for total in totals]


def saliency_matrix(
    model: EncoderDecoder,
    src: Sequence[int],
    tgt: Sequence[int],
    samples: int = SAMPLES,
    noise: float = NOISE,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``saliency_matrices`` of one pair: (len(tgt) + 1, len(src) + 1)."""
    return saliency_matrices(model, [(src, tgt)], samples, noise, generator)[0]


def _passes(rows: list[tuple[int, int]], steps: list[int]) -> list[list[tuple[int, int]]]:
    """``rows`` (pair, position) cut in order into passes of at most TOKENS_PER_PASS padded target tokens."""
    passes: list[list[tuple[int, int]]] = [[]]
    longest = 0
    for row in rows:
        longest = max(longest, steps[row[0]])
        if passes[-1] and (len(passes[-1]) + 1) * longest > TOKENS_PER_PASS:
            passes.append([])
            longest = steps[row[0]]
        passes[-1].append(row)
    return passes


def _rows_normalised(scores: Tensor) -> Tensor:
    """Each row divided by its sum; a row of zeros becomes uniform."""
    sums = scores.sum(1, keepdim=True)
    uniform = torch.full_like(scores, 1 / scores.shape[1])
    return torch.where(sums > 0, scores / sums.clamp_min(torch.finfo(scores.dtype).tiny), uniform)


def _gradient_times_input(
    model: EncoderDecoder, batch: Batch, positions: Tensor, noise: float, generator: torch.Generator | None
) -> Tensor:
    """For each row r: ∂ log p(y_{positions[r]}) / ∂(noisy source embeddings) · clean ones: (R, S)."""
    rows = torch.arange(len(positions), device=positions.device)
    taken: list[tuple[Tensor, Tensor]] = []

    def replace(module: torch.nn.Module, inputs: tuple, output: Tensor) -> Tensor:
        clean = output.detach().float()
        sigma = noise * (clean.amax((1, 2)) - clean.amin((1, 2)))  # per row (sentence)
        draw = torch.randn(clean.shape, generator=generator).to(clean.device)
        noisy = (clean + sigma[:, None, None] * draw).requires_grad_()
        taken.append((clean, noisy))
        return noisy.to(output.dtype)

    steps = int(positions.max()) + 1  # later target tokens cannot change these predictions
    hook = model.source_tap.register_forward_hook(replace)
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):  # cuDNN RNNs: no eval backward
            logits, _ = model(batch.src, batch.src_mask, batch.tgt_in[:, :steps])
            log_probs = logits[rows, positions].float().log_softmax(-1)  # (R, V)
            chosen = log_probs[rows, batch.tgt_out[rows, positions]]
            ((clean, noisy),) = taken
            (gradient,) = torch.autograd.grad(chosen.sum(), noisy)
    finally:
        hook.remove()
    return (gradient * clean).sum(-1)


def forced_saliency(
    run: Run,
    sources: Sequence[str],
    targets: Sequence[str],
    samples: int = SAMPLES,
    noise: float = NOISE,
    seed: int = 0,
) -> list[tuple[list[str], list[str], Tensor]]:
    """For each pair: source pieces + "</s>", target pieces + "</s>", saliency (T+1, S+1) on the CPU,
    as ``nmt.alignment.force.forced_attention`` gives attention maps."""
    src_ids, tgt_ids = run.src_vocab.encode(sources), run.tgt_vocab.encode(targets)
    pairs = list(zip(src_ids, tgt_ids, strict=True))
    matrices = saliency_matrices(run.model, pairs, samples, noise, torch.Generator().manual_seed(seed))
    return [
        ([*run.src_vocab.pieces(src), "</s>"], [*run.tgt_vocab.pieces(tgt), "</s>"], matrix)
        for (src, tgt), matrix in zip(pairs, matrices, strict=True)
    ]


def translation_saliency(
    run: Run, translations: Sequence[tuple[Sequence[str], Sequence[str]]], seed: int = 0
) -> list[Tensor]:
    """Saliency of translations given as their pieces + "</s>" on each side (``Translation.src_tokens``,
    ``tgt_tokens``): (len(tgt_tokens), len(src_tokens)) each, the shape of their attention."""
    generator = torch.Generator().manual_seed(seed)
    return saliency_matrices(run.model, piece_ids(run, translations), generator=generator)
