"""Search strategies: how one step chooses candidate extensions (fairseq's ``Search.step``).

The loop in ``nmt.decoding.search`` owns everything else (EOS, finished hypotheses, lengths,
prefixes, the model's state). At every step it hands a strategy the log-probabilities of all
active rows, viewed as (A sentences, W rows per sentence, V), and their cumulative log-probabilities
(A, W); the strategy returns C >= W candidates per sentence: their cumulative log-probabilities,
tokens and the row (0 .. W-1) each one extends. Candidates ending in EOS become finished
hypotheses; the W best others are the next rows. A cumulative log-probability of -inf marks an
empty row or candidate.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

from nmt.decoding.config import DecodeConfig

Candidates = tuple[Tensor, Tensor, Tensor]
"""scores (A, C) cumulative log-probabilities, tokens (A, C), beams (A, C) the row each one extends."""


class Strategy(ABC):
    """How many rows a sentence has, what they start with, and how a step extends them."""

    width: int
    """Rows per sentence (W)."""

    def initial_scores(self, sentences: int, device: torch.device) -> Tensor:
        """Cumulative log-probabilities of the W rows before the first step: (A, W)."""
        return torch.zeros(sentences, self.width, device=device)

    @abstractmethod
    def step(self, log_probs: Tensor, scores: Tensor) -> Candidates:
        """log_probs (A, W, V) fp32, masked with -inf where a token is not allowed; scores (A, W)."""


class Greedy(Strategy):
    """The argmax token at every step: one row, one candidate."""

    width = 1

    def step(self, log_probs: Tensor, scores: Tensor) -> Candidates:
        best, tokens = log_probs.max(-1)  # (A, 1)
        return scores + best, tokens, torch.zeros_like(tokens)


class Beam(Strategy):
    """The 2 * W best extensions over all W x V, by cumulative log-probability (as fairseq and GNMT)."""

    def __init__(self, width: int) -> None:
        self.width = width

    def initial_scores(self, sentences: int, device: torch.device) -> Tensor:
        """All rows hold the same prefix at the start: only the first is expanded."""
        scores = torch.full((sentences, self.width), -math.inf, device=device)
        scores[:, 0] = 0.0
        return scores

    def step(self, log_probs: Tensor, scores: Tensor) -> Candidates:
        sentences, width, vocab = log_probs.shape
        expanded = (scores.unsqueeze(-1) + log_probs).view(sentences, width * vocab)
        top, index = expanded.topk(min(2 * width, width * vocab), dim=1)
        return top, index % vocab, index // vocab


class Sampling(Strategy):
    """One token per row drawn from softmax(log p / temperature), cut to top-k and to the nucleus top-p.

    Each of the W rows of a sentence is one independent sample. Candidate scores are the model's own
    log-probabilities (not the tempered ones), so a sample's score is log P(sample | source).

    A draw costs one uniform number per row (inverse transform: the first token whose cumulative
    probability exceeds it), not one per vocabulary entry; top-k works on the k likeliest tokens
    only, and the vocabulary is sorted only for a nucleus cut without top-k.
    """

    def __init__(self, config: DecodeConfig, device: torch.device) -> None:
        self.width, self.temperature = config.nbest, config.temperature
        self.top_k, self.top_p = config.top_k, config.top_p
        self.generator = torch.Generator(device=device).manual_seed(config.seed)

    def step(self, log_probs: Tensor, scores: Tensor) -> Candidates:
        sentences, width, vocab = log_probs.shape
        logits, ids = self._candidates(log_probs.view(-1, vocab))  # (N, K), (N, K) or None
        probs = logits.softmax(-1)
        if self.top_p < 1.0:
            probs = probs.masked_fill(~_nucleus(probs, self.top_p), 0.0)
        tokens = _draw(probs, self.generator)
        if ids is not None:
            tokens = ids.gather(1, tokens)
        tokens = tokens.view(sentences, width)
        chosen = log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        beams = torch.arange(width, device=tokens.device).expand(sentences, width)
        return scores + chosen, tokens, beams

    def _candidates(self, log_probs: Tensor) -> tuple[Tensor, Tensor | None]:
        """The tempered log-probabilities the draw chooses among (N, K), and their token ids (N, K),
        likeliest first (None: the whole vocabulary, in vocabulary order)."""
        logits = log_probs if self.temperature == 1.0 else log_probs / self.temperature
        vocab = logits.shape[-1]
        if 0 < self.top_k < vocab:
            return logits.topk(self.top_k, dim=-1)
        if self.top_p < 1.0:
            return logits.sort(-1, descending=True)
        return logits, None


def _nucleus(probs: Tensor, top_p: float) -> Tensor:
    """Of probabilities sorted likeliest first (N, K): the smallest prefix whose mass reaches top_p
    (at least one token), as a (N, K) mask."""
    return probs.cumsum(-1) - probs < top_p  # the likelier tokens do not reach top_p yet


def _draw(probs: Tensor, generator: torch.Generator) -> Tensor:
    """One index per row of (N, K) non-negative weights, drawn in proportion to them: (N, 1)."""
    cumulative = probs.cumsum(-1)
    uniform = 1.0 - torch.rand(probs.shape[0], 1, generator=generator, device=probs.device)  # (0, 1]
    # The first index whose cumulative weight reaches uniform * total: weight-0 indices never do.
    return torch.searchsorted(cumulative, uniform * cumulative[:, -1:])


def strategy_for(config: DecodeConfig, device: torch.device) -> Strategy:
    """The strategy a config asks for: sampling, greedy (beam 1) or beam search."""
    if config.sampling:
        return Sampling(config, device)
    return Greedy() if config.beam == 1 else Beam(config.beam)
