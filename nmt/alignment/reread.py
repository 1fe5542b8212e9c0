"""Translations read again under teacher forcing, as ``nmt align`` and the explorer show them: each
translation's attention replaced by the matrix of one reading of its alignment, the model's alignment
map (``nmt.alignment.force``) or gradient saliency (``nmt.alignment.saliency``), both of shape
(len(tgt_tokens), len(src_tokens)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from nmt.alignment.force import translation_attention
from nmt.alignment.saliency import translation_saliency
from nmt.rundir import Run

if TYPE_CHECKING:
    from nmt.translate import Translation

READINGS = {"attention": translation_attention, "saliency": translation_saliency}
"""The readings, by the name ``nmt align --method`` gives them."""


def read_again(run: Run, translations: Sequence[Translation], method: str) -> list[Translation]:
    """The translations, each carrying as its attention its matrix of reading ``method`` under teacher
    forcing, as ``nmt aer`` reads them; an empty translation has nothing to read and stays as it is."""
    real = [h for h in translations if h.tgt_tokens]
    matrices = iter(READINGS[method](run, [(h.src_tokens, h.tgt_tokens) for h in real]))
    return [replace(h, attention=next(matrices)) if h.tgt_tokens else h for h in translations]
