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
    """

    def __init__(self, config: DecodeConfig, device: torch.device) -> None:
        self.width, self.temperature = config.nbest, config.temperature
        self.top_k, self.top_p = config.top_k, config.top_p
        self.generator = torch.Generator(device=device).manual_seed(config.seed)

    def step(self, log_probs: Tensor, scores: Tensor) -> Candidates:
        sentences, width, vocab = log_probs.shape
        logits = (log_probs / self.temperature).view(-1, vocab)
        if 0 < self.top_k < vocab:
            kth = logits.topk(self.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, -math.inf)
        if self.top_p < 1.0:
            logits = _nucleus(logits, self.top_p)
        tokens = torch.multinomial(logits.softmax(-1), 1, generator=self.generator).view(sentences, width)
        chosen = log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        beams = torch.arange(width, device=tokens.device).expand(sentences, width)
        return scores + chosen, tokens, beams


def _nucleus(logits: Tensor, top_p: float) -> Tensor:
    """Keep the smallest set of likeliest tokens whose probability reaches top_p (at least one): (N, V)."""
    ordered, order = logits.sort(-1, descending=True)
    probs = ordered.softmax(-1)
    drop_sorted = probs.cumsum(-1) - probs >= top_p  # the likelier tokens already reach top_p
    drop = torch.empty_like(drop_sorted).scatter_(-1, order, drop_sorted)
    return logits.masked_fill(drop, -math.inf)


def strategy_for(config: DecodeConfig, device: torch.device) -> Strategy:
    """The strategy a config asks for: sampling, greedy (beam 1) or beam search."""
    if config.sampling:
        return Sampling(config, device)
    return Greedy() if config.beam == 1 else Beam(config.beam)
