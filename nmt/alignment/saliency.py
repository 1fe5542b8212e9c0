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

Every (target position, draw) is one row of a batch, so one backward pass gives many gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from nmt.data.batching import make_batch
from nmt.models import EncoderDecoder
from nmt.rundir import Run

SAMPLES = 8
NOISE = 0.15
MAX_ROWS = 256  # rows (target positions x draws) per forward/backward pass


def saliency_matrix(
    model: EncoderDecoder,
    src: Sequence[int],
    tgt: Sequence[int],
    samples: int = SAMPLES,
    noise: float = NOISE,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Saliency of one sentence pair of ids (no BOS/EOS): (len(tgt) + 1, len(src) + 1), float32 on the
    CPU, rows summing to 1. ``model`` should be in eval mode (no dropout)."""
    device = next(model.parameters()).device
    one = make_batch([list(src)], [list(tgt)]).to(device)
    steps = one.tgt_out.shape[1]
    positions = torch.arange(steps, device=device).repeat_interleave(samples)  # (rows,)
    totals = torch.zeros(steps, one.src.shape[1], device=device)
    for start in range(0, len(positions), MAX_ROWS):
        chunk = positions[start : start + MAX_ROWS]
        totals.index_add_(0, chunk, _gradient_times_input(model, one, chunk, noise, generator))
    scores = (totals / samples).abs().cpu()
    sums = scores.sum(1, keepdim=True)
    uniform = torch.full_like(scores, 1 / scores.shape[1])
    return torch.where(sums > 0, scores / sums.clamp_min(torch.finfo(scores.dtype).tiny), uniform)


def _gradient_times_input(
    model: EncoderDecoder, one, positions: Tensor, noise: float, generator: torch.Generator | None
) -> Tensor:
    """For each row r: ∂ log p(y_{positions[r]}) / ∂(noisy embeddings) · clean embeddings, (R, S)."""
    rows = len(positions)
    taken: list[tuple[Tensor, Tensor]] = []

    def replace(module: torch.nn.Module, inputs: tuple, output: Tensor) -> Tensor:
        clean = output.detach().float()
        sigma = noise * float(clean.max() - clean.min())
        draw = torch.randn(clean.shape, generator=generator, device="cpu").to(clean.device)
        noisy = (clean + sigma * draw).requires_grad_()
        taken.append((clean, noisy))
        return noisy.to(output.dtype)

    hook = model.source_tap.register_forward_hook(replace)
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):  # cuDNN RNNs: no eval backward
            logits, _ = model(
                one.src.expand(rows, -1), one.src_mask.expand(rows, -1), one.tgt_in.expand(rows, -1)
            )
            log_probs = logits.float().log_softmax(-1)
            chosen = log_probs[torch.arange(rows), positions, one.tgt_out[0, positions]]
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
    generator = torch.Generator().manual_seed(seed)
    results = []
    src_ids, tgt_ids = run.src_vocab.encode(sources), run.tgt_vocab.encode(targets)
    for src, tgt in zip(src_ids, tgt_ids, strict=True):
        matrix = saliency_matrix(run.model, src, tgt, samples, noise, generator)
        results.append(([*run.src_vocab.pieces(src), "</s>"], [*run.tgt_vocab.pieces(tgt), "</s>"], matrix))
    return results


def translation_saliency(
    run: Run, src_tokens: Sequence[str], tgt_tokens: Sequence[str], seed: int = 0
) -> Tensor:
    """Saliency of a translation given as its pieces + "</s>" on each side (``Translation.src_tokens``,
    ``tgt_tokens``): (len(tgt_tokens), len(src_tokens)), the shape of its attention."""
    src = [run.src_vocab.sp.piece_to_id(piece) for piece in src_tokens[:-1]]
    tgt = [run.tgt_vocab.sp.piece_to_id(piece) for piece in tgt_tokens[:-1]]
    return saliency_matrix(run.model, src, tgt, generator=torch.Generator().manual_seed(seed))
