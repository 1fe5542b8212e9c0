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

Draw n of a sentence is one noisy input that every target word's gradient is taken at. Pair i's
draws come from a generator of its own, seeded by the i-th of ``len(pairs)`` seeds drawn from
``generator``, so they do not depend on how pairs are batched.

Every (sentence, draw) is one row of a batch. One teacher-forced forward pass gives every target
word's log-probability; the graph is cut at the output layer's inputs (``output_tap``), so one
backward pass through the output layer gives every position's gradient with respect to its own
output-layer input, and one backward pass per target position, from that input alone, gives its
gradients for every row at once (rows do not interact, so the sum over rows gives every row's).
Every such backward pass runs over every row of its batch, so a batch groups pairs of similar target
lengths (``_passes``). ``saliency_matrices_per_word`` is the same quantity with one forward and
backward pass per (target word, draw) row, as saliency was first computed: the reference the batched
one is tested and benchmarked against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor
from tqdm.auto import tqdm

from nmt.alignment.force import piece_ids
from nmt.data.batching import Batch, make_batch
from nmt.models import EncoderDecoder
from nmt.rundir import Run

SAMPLES = 8
NOISE = 0.15
TOKENS_PER_PASS = 8192  # rows x target length in one pass (bounds the memory of the kept graph)
PADDING = 1.25  # padded / real target tokens in one pass (each position's backward pass runs on all)

Pair = tuple[Sequence[int], Sequence[int]]
Scores = Callable[[EncoderDecoder, list[Pair], list[int], int, float], list[Tensor]]


def saliency_matrices(
    model: EncoderDecoder,
    pairs: Sequence[Pair],
    samples: int = SAMPLES,
    noise: float = NOISE,
    generator: torch.Generator | None = None,
) -> list[Tensor]:
    """Saliency of sentence pairs of ids (no BOS/EOS): one (len(tgt) + 1, len(src) + 1) float32 matrix
    on the CPU per pair, rows summing to 1. ``model`` should be in eval mode (no dropout).

    Pairs are grouped by target length into passes of at most TOKENS_PER_PASS padded target tokens
    (rows x length) and PADDING x their real ones."""
    return _saliency(model, pairs, [samples] * len(pairs), samples, noise, generator, _batched_scores)


def saliency_matrices_per_word(
    model: EncoderDecoder,
    pairs: Sequence[Pair],
    samples: int = SAMPLES,
    noise: float = NOISE,
    generator: torch.Generator | None = None,
) -> list[Tensor]:
    """``saliency_matrices`` (the same draws, the same matrices) with one teacher-forced forward and
    backward pass per (target word, draw) row: the reference, many times slower."""
    rows = [samples * (len(tgt) + 1) for _, tgt in pairs]
    return _saliency(model, pairs, rows, samples, noise, generator, _per_word_scores)


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


def _saliency(
    model: EncoderDecoder,
    pairs: Sequence[Pair],
    rows: list[int],
    samples: int,
    noise: float,
    generator: torch.Generator | None,
    scores: Scores,
) -> list[Tensor]:
    """Saliency matrices of ``pairs`` from their gradient × input ``scores``, computed pass by pass
    (``rows``: the batch rows each pair takes)."""
    seeds = torch.randint(2**62, (len(pairs),), generator=generator).tolist()
    totals: dict[int, Tensor] = {}
    passes = _passes(rows, [len(tgt) + 1 for _, tgt in pairs])
    for chunk in tqdm(passes, desc="saliency", unit=" passes", leave=False, disable=None):  # None: a TTY only
        done = scores(model, [pairs[i] for i in chunk], [seeds[i] for i in chunk], samples, noise)
        totals |= zip(chunk, done, strict=True)
    return [_rows_normalised(totals[i].mean(0).abs()) for i in range(len(pairs))]


def _passes(rows: list[int], steps: list[int]) -> list[list[int]]:
    """Pair indices from the shortest target to the longest, cut into passes of similar lengths: a
    pass (of one pair at least) ends before its rows x longest target would exceed TOKENS_PER_PASS
    or PADDING x its real target tokens. Pair i takes ``rows[i]`` rows of ``steps[i]`` target tokens."""
    passes: list[list[int]] = [[]]
    size = real = 0
    for i in sorted(range(len(rows)), key=steps.__getitem__):
        size, real = size + rows[i], real + rows[i] * steps[i]
        if len(passes[-1]) and size * steps[i] > min(TOKENS_PER_PASS, PADDING * real):
            passes.append([])
            size, real = rows[i], rows[i] * steps[i]
        passes[-1].append(i)
    return passes


def _batched_scores(
    model: EncoderDecoder, pairs: list[Pair], seeds: list[int], samples: int, noise: float
) -> list[Tensor]:
    """Gradient × input of every (pair, draw) row at once: (samples, T + 1, S + 1) per pair. One
    teacher-forced forward pass, one backward pass through the output layer alone (each position's
    gradient with respect to its own output-layer input), then one backward pass per target position
    from its output-layer input."""
    device = next(model.parameters()).device
    batch = _batch([pair for pair in pairs for _ in range(samples)], device)
    rows = [
        (seed, n, len(src) + 1) for (src, _), seed in zip(pairs, seeds, strict=True) for n in range(samples)
    ]
    with _noisy_source(model, rows, samples, noise) as taken, _cut_outputs(model) as cut:
        logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
        chosen = logits.float().log_softmax(-1).gather(-1, batch.tgt_out[..., None])  # (R, T, 1)
        ((clean, noisy),) = taken
        outer = torch.autograd.grad(chosen.sum(), [leaf for _, leaf in cut])  # rows, positions independent
        gradients = [
            torch.autograd.grad(kept, noisy, go, retain_graph=True)[0] for kept, go in _positions(cut, outer)
        ]
    scores = (torch.stack(gradients, 1) * clean[:, None]).sum(-1).cpu()  # (R, T, S)
    per_pair = scores.unflatten(0, (len(pairs), samples))
    return [
        score[:, : len(tgt) + 1, : len(src) + 1] for score, (src, tgt) in zip(per_pair, pairs, strict=True)
    ]


def _positions(cut: list[tuple[Tensor, Tensor]], outer: Sequence[Tensor]) -> Iterator[tuple[Tensor, Tensor]]:
    """For each target position in order: the ``output_tap`` input it is in, (R, D) or (R, T, D), and
    the gradient to take back from it: its output-layer gradient, zero at the call's other positions."""
    for kept, grad in zip((kept for kept, _ in cut), outer, strict=True):
        steps = grad.view(len(grad), -1, grad.shape[-1])  # (R, T, D), T = 1 for a (R, D) call
        positions = torch.arange(steps.shape[1], device=grad.device)[:, None]
        for t in range(steps.shape[1]):
            yield kept, (steps * (positions == t)).view_as(grad)


@contextmanager
def _cut_outputs(model: EncoderDecoder) -> Iterator[list[tuple[Tensor, Tensor]]]:
    """While open, what passes ``model.output_tap`` is cut from the graph: the output layer gets a
    leaf instead. Yields the list that each call's (input, leaf) is added to, in position order."""
    cut: list[tuple[Tensor, Tensor]] = []

    def replace(module: torch.nn.Module, inputs: tuple, output: Tensor) -> Tensor:
        leaf = output.detach().requires_grad_()
        cut.append((output, leaf))
        return leaf

    hook = model.output_tap.register_forward_hook(replace)
    try:
        yield cut
    finally:
        hook.remove()


def _per_word_scores(
    model: EncoderDecoder, pairs: list[Pair], seeds: list[int], samples: int, noise: float
) -> list[Tensor]:
    """``_batched_scores`` with one row per (pair, target position, draw): a teacher-forced forward pass
    up to that position, and the gradient of that one log-probability."""
    device = next(model.parameters()).device
    rows = [
        (k, t, n) for k, (_, tgt) in enumerate(pairs) for t in range(len(tgt) + 1) for n in range(samples)
    ]
    batch = _batch([pairs[k] for k, _, _ in rows], device)
    positions = torch.tensor([t for _, t, _ in rows], device=device)
    index = torch.arange(len(rows), device=device)
    draws = [(seeds[k], n, len(pairs[k][0]) + 1) for k, _, n in rows]
    with _noisy_source(model, draws, samples, noise) as taken:
        logits, _ = model(batch.src, batch.src_mask, batch.tgt_in[:, : int(positions.max()) + 1])
        log_probs = logits[index, positions].float().log_softmax(-1)  # (R, V)
        ((clean, noisy),) = taken
        (gradient,) = torch.autograd.grad(log_probs[index, batch.tgt_out[index, positions]].sum(), noisy)
    scores = (gradient * clean).sum(-1).cpu()  # (R, S)
    totals = [torch.zeros(samples, len(tgt) + 1, len(src) + 1) for src, tgt in pairs]
    for (k, t, n), score in zip(rows, scores, strict=True):
        totals[k][n, t] = score[: totals[k].shape[2]]
    return totals


def _batch(pairs: list[Pair], device: torch.device) -> Batch:
    """The teacher-forcing batch of ``pairs`` on ``device``."""
    return make_batch([src for src, _ in pairs], [tgt for _, tgt in pairs]).to(device)


@contextmanager
def _noisy_source(
    model: EncoderDecoder, rows: list[tuple[int, int, int]], samples: int, noise: float
) -> Iterator[list[tuple[Tensor, Tensor]]]:
    """While open (with gradients on), ``model``'s source embeddings (R, S, E) are replaced by noisy
    ones, fp32, that gradients can be taken for: row r gets draw n of the (samples, length, E) standard
    normal draws of the generator seeded by ``seed``, (seed, n, length) = ``rows[r]``, times σ of its
    real tokens (zero noise on padding). Yields the list that each pass's (clean, noisy) is added to."""
    taken: list[tuple[Tensor, Tensor]] = []

    def replace(module: torch.nn.Module, inputs: tuple, output: Tensor) -> Tensor:
        clean = output.detach().float()
        added, draws = torch.zeros_like(clean), {}
        for r, (seed, n, length) in enumerate(rows):
            if seed not in draws:
                shape = (samples, length, clean.shape[-1])
                draws[seed] = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(
                    clean.device
                )
            real = clean[r, :length]
            added[r, :length] = noise * (real.max() - real.min()) * draws[seed][n]
        noisy = (clean + added).requires_grad_()
        taken.append((clean, noisy))
        return noisy.to(output.dtype)

    hook = model.source_tap.register_forward_hook(replace)
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):  # cuDNN RNNs: no eval backward
            yield taken
    finally:
        hook.remove()


def _rows_normalised(scores: Tensor) -> Tensor:
    """Each row divided by its sum; a row of zeros becomes uniform."""
    sums = scores.sum(1, keepdim=True)
    uniform = torch.full_like(scores, 1 / scores.shape[1])
    return torch.where(sums > 0, scores / sums.clamp_min(torch.finfo(scores.dtype).tiny), uniform)


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
