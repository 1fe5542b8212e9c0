"""Decoding: one search loop with pluggable strategies (greedy, beam, sampling), configured by one
``DecodeConfig``; ensembles; forced prefixes and forced decoding (scoring given outputs)."""

from nmt.decoding.config import DecodeConfig
from nmt.decoding.ensemble import Ensemble
from nmt.decoding.finished import Hypothesis, length_penalty
from nmt.decoding.generate import generate
from nmt.decoding.search import search

__all__ = ["DecodeConfig", "Ensemble", "Hypothesis", "generate", "length_penalty", "search"]
