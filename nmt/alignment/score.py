"""AER of trained runs against gold word alignments, for every reading of their alignment.

A reading is one way to get a word matrix per sentence out of a model under teacher forcing:

* attention: the map translations carry and ``nmt align`` shows (``configured_map``: an RNN's one
  map, a Transformer's ``align_layer``/``align_head``), as read and, when the model's map may lag
  (``alignment_may_lag``), shifted one step later (Chen et al. 2020: the attention of the step that
  consumes target word t, rather than the one that predicts it);
* saliency: SmoothGrad gradient saliency (``nmt.alignment.saliency``), one per model.

``every_head`` widens attention to a diagnostic scan of every decoder layer, its heads averaged and
each head alone: which map aligns, not how the model aligns (heads left free do other work).

With a backward run (trained in the other direction), each reading the two runs share is also
scored symmetrized (``nmt.data.symmetrize``). ``aligner_rows`` scores the statistical aligner,
``diagonal_aer`` the diagonal reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from torch import Tensor

from nmt.alignment.aer import (
    Links,
    aer,
    diagonal_alignment,
    hard_alignment,
    merge_to_words,
    shift_attention,
)
from nmt.alignment.agreement import spearman
from nmt.alignment.force import forced_attention
from nmt.alignment.saliency import forced_saliency
from nmt.data.aligner import eflomal_links
from nmt.data.symmetrize import HEURISTICS, flip
from nmt.rundir import Run

METHODS = ("attention", "saliency")
Gold = Sequence[tuple[Links, Links]]


class Reading(NamedTuple):
    """Which matrix: attention of (layer, head or "mean"), as read or shifted; or saliency (no map)."""

    method: str
    layer: int | None = None
    head: int | str | None = None
    shifted: bool = False


def word_matrices(
    run: Run,
    sources: Sequence[str],
    targets: Sequence[str],
    methods: Sequence[str] = ("attention",),
    every_head: bool = False,
) -> dict[Reading, list[np.ndarray]]:
    """For every reading of ``methods`` (``attention_readings`` for attention): the word matrix
    (T_words, S_words) of every pair (whitespace tokens), the pairs given to the run ``as_trained``."""
    sources, targets = as_trained(run, sources), as_trained(run, targets)
    readings: dict[Reading, list[np.ndarray]] = {}
    if "attention" in methods:
        forced = forced_attention(run, sources, targets)
        for reading in attention_readings(run, every_head):
            readings[reading] = [
                _words(_one_map(maps, reading), src_pieces, tgt_pieces, source, target, reading.shifted)
                for (src_pieces, tgt_pieces, maps), source, target in zip(
                    forced, sources, targets, strict=True
                )
            ]
    if "saliency" in methods:
        readings[Reading("saliency")] = [
            _words(matrix, src_pieces, tgt_pieces, source, target)
            for (src_pieces, tgt_pieces, matrix), source, target in zip(
                forced_saliency(run, sources, targets), sources, targets, strict=True
            )
        ]
    return readings


def attention_readings(run: Run, every_head: bool = False) -> list[Reading]:
    """The attention readings of a run: its ``configured_map`` as read and, when the model's map may
    lag, shifted; ``every_head``: every layer's mean of the heads and each head alone, likewise."""
    shifts = (False, True) if run.model.alignment_may_lag else (False,)
    if not every_head:
        return [configured_map(run)._replace(shifted=shifted) for shifted in shifts]
    layers, heads = run.model.attention_grid
    return [
        Reading("attention", layer, head, shifted)
        for layer in range(layers)
        for head in (["mean", *range(heads)] if heads > 1 else ["mean"])
        for shifted in shifts
    ]


def _one_map(maps: Tensor, reading: Reading) -> Tensor:
    """The attention map of ``reading`` in a (L, H, T, S) grid: one head, or the mean of the layer's
    heads for head "mean"."""
    layer = maps[reading.layer]
    return layer.mean(0) if reading.head == "mean" else layer[reading.head]


def _words(
    matrix: Tensor,
    src_pieces: list[str],
    tgt_pieces: list[str],
    source: str,
    target: str,
    shifted: bool = False,
) -> np.ndarray:
    """A piece matrix (T+1, S+1) of one pair on its whitespace tokens (shifted: ``shift_attention``)."""
    if shifted:
        matrix, tgt_pieces = shift_attention(matrix), tgt_pieces[:-1]
    return merge_to_words(matrix, src_pieces, tgt_pieces, source.split(), target.split())


def aer_rows(
    forward: dict[Reading, list[Links]], gold: Gold, backward: dict[Reading, list[Links]] | None = None
) -> list[dict]:
    """One row per reading: its AER; with ``backward`` (links of the other direction, already in the
    forward orientation), for the readings both have, the backward AER and each symmetrization's."""
    rows = []
    for reading, links in forward.items():
        row = {**reading._asdict(), "aer": aer(links, gold)}
        if backward is not None and reading in backward:
            row |= symmetrized(links, backward[reading], gold)
        rows.append(row)
    return rows


def symmetrized(forward: Sequence[Links], backward: Sequence[Links], gold: Gold) -> dict[str, float]:
    """AER of the backward links and of every heuristic of ``nmt.data.symmetrize`` on both."""
    scores = {"backward": aer(backward, gold)}
    for name, heuristic in HEURISTICS.items():
        scores[name] = aer([heuristic(f, b) for f, b in zip(forward, backward, strict=True)], gold)
    return scores


def links_of(
    readings: dict[Reading, list[np.ndarray]],
    method: str = "argmax",
    threshold: float = 0.5,
    flipped: bool = False,
) -> dict[Reading, list[Links]]:
    """Hard links of every matrix (``hard_alignment``); ``flipped``: a backward run's, turned around."""
    turn = flip if flipped else lambda links: links
    return {
        reading: [turn(hard_alignment(m, method, threshold)) for m in matrices]
        for reading, matrices in readings.items()
    }


def agreement(attention: Sequence[np.ndarray], saliency: Sequence[np.ndarray]) -> list[float]:
    """Spearman's rho between the two readings of every sentence (``nmt.alignment.agreement``)."""
    return [spearman(a, s) for a, s in zip(attention, saliency, strict=True)]


def aligner_rows(
    sources: Sequence[str], targets: Sequence[str], gold: Gold, corpus: Sequence[tuple[str, str]]
) -> dict[str, float]:
    """AER of eflomal trained on the gold pairs followed by ``corpus``: forward, backward, symmetrized."""
    forward, backward = eflomal_links(
        [*sources, *(s for s, _ in corpus)], [*targets, *(t for _, t in corpus)]
    )
    count = len(sources)
    return {"forward": aer(forward[:count], gold), **symmetrized(forward[:count], backward[:count], gold)}


def as_trained(run: Run, sentences: Sequence[str]) -> list[str]:
    """Gold sentences as the run's training text was written: lowercased when it was
    (``data.lowercase``), since gold sets keep a few capitals ("I", "Mr", names). Word tokenization
    (``data.tokenize``) is not redone: the gold text is tokenized already, and its indices count
    its own words."""
    return [s.lower() for s in sentences] if run.cfg.data.lowercase else list(sentences)


def configured_map(run: Run) -> Reading:
    """The attention that translations carry and `nmt align` shows: a Transformer's align_layer and
    align_head ("mean" for the mean of the heads), as read; (0, "mean") for an RNN."""
    layer, head = run.model.alignment_map
    one_head = run.model.attention_grid[1] == 1  # its only head is the mean, as every_head lists it
    return Reading("attention", layer, "mean" if head is None or one_head else head, False)


def diagonal_aer(sources: Sequence[str], targets: Sequence[str], gold: Gold) -> float:
    """AER of ``diagonal_alignment`` on the whitespace-tokenized pairs: what attention has to beat."""
    predicted = [
        diagonal_alignment(len(s.split()), len(t.split())) for s, t in zip(sources, targets, strict=True)
    ]
    return aer(predicted, gold)
