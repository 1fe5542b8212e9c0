"""Word links of the training corpus, and the attention labels that supervised attention learns from.

``prepare_links`` aligns the cleaned training pairs with eflomal in both directions, symmetrizes them
with grow-diag-final-and and keeps the result in the data cache, beside the corpus it belongs to::

    <cache_dir>/prepared/<text key>/links-<key>/links.npz

``AttentionLabels`` turns a batch's word links into subword targets (B, T, S) for the attention: a
target piece's row spreads its mass evenly over the source pieces of the words its word is linked
to. Sentencepiece starts every whitespace word with a "▁" piece, so the pieces of a sentence map back
onto the words eflomal saw; a pair whose word counts disagree, and every target piece whose word has
no link (and EOS), gets an all-zero row: no label.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
from torch import Tensor

from nmt.data.aligner import Links, eflomal_links
from nmt.data.symmetrize import grow_diag_final_and

log = logging.getLogger(__name__)

WORD_START = "▁"
LINKS_VERSION = 1  # bump when the aligner's settings or the symmetrization change


@dataclass
class WordLinks:
    """Links of N sentence pairs: pair i's (source word, target word) rows are
    ``pairs[offsets[i]:offsets[i + 1]]``; ``words[i]`` its (source, target) word counts."""

    pairs: np.ndarray  # (L, 2) int32
    offsets: np.ndarray  # (N + 1,) int64
    words: np.ndarray  # (N, 2) int32

    @classmethod
    def from_sets(cls, links: Sequence[Links], words: Sequence[tuple[int, int]]) -> WordLinks:
        rows = [sorted(one) for one in links]
        pairs = np.array([link for row in rows for link in row], dtype=np.int32).reshape(-1, 2)
        offsets = np.concatenate([[0], np.cumsum([len(row) for row in rows])]).astype(np.int64)
        return cls(pairs, offsets, np.array(words, dtype=np.int32).reshape(-1, 2))

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.pairs[self.offsets[i] : self.offsets[i + 1]]

    def save(self, path: Path) -> None:
        with path.open("wb") as out:
            np.savez(out, pairs=self.pairs, offsets=self.offsets, words=self.words)

    @classmethod
    def load(cls, path: Path) -> WordLinks:
        with np.load(path, allow_pickle=False) as archive:
            return cls(archive["pairs"], archive["offsets"], archive["words"])


def align_corpus(sources: Sequence[str], targets: Sequence[str]) -> WordLinks:
    """eflomal's links of the pairs (both directions, grow-diag-final-and), with their word counts."""
    log.info("aligning %d training pairs with eflomal (both directions)", len(sources))
    forward, backward = eflomal_links(sources, targets)
    links = [grow_diag_final_and(f, b) for f, b in zip(forward, backward, strict=True)]
    words = [(len(s.split()), len(t.split())) for s, t in zip(sources, targets, strict=True)]
    return WordLinks.from_sets(links, words)


def word_starts(model: Path) -> np.ndarray:
    """(V,) bool: whether each piece id of a sentencepiece model starts a word ("▁...")."""
    sp = spm.SentencePieceProcessor(model_file=str(model))
    return np.array([sp.id_to_piece(i).startswith(WORD_START) for i in range(sp.get_piece_size())])


def piece_words(ids: Sequence[int], starts: np.ndarray) -> np.ndarray:
    """The 0-based word of every piece (a lone first piece without "▁" counts as word 0): (len(ids),)."""
    return np.maximum(np.cumsum(starts[np.asarray(ids, dtype=np.int64)]) - 1, 0)


class AttentionLabels:
    """Attention targets for batches of the training corpus, from its word links."""

    def __init__(self, links: WordLinks, src_model: Path, tgt_model: Path) -> None:
        self.links = links
        self.src_starts, self.tgt_starts = word_starts(src_model), word_starts(tgt_model)

    def batch(
        self, indices: Sequence[int], src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]]
    ) -> Tensor:
        """Labels of the pairs ``indices`` with ids ``src``/``tgt`` (no EOS/BOS), padded as
        ``make_batch`` pads: (B, max len(tgt) + 1, max len(src) + 1) float32, rows summing to 1 or 0."""
        labels = torch.zeros(len(indices), max(map(len, tgt)) + 1, max(map(len, src)) + 1)
        for row, (i, s, t) in enumerate(zip(indices, src, tgt, strict=True)):
            src_words, tgt_words = piece_words(s, self.src_starts), piece_words(t, self.tgt_starts)
            counts = (src_words[-1] + 1 if len(s) else 0, tgt_words[-1] + 1 if len(t) else 0)
            links = self.links[int(i)]
            if not len(links) or counts != tuple(self.links.words[int(i)]):
                continue
            linked = np.zeros(counts, dtype=np.float32)
            linked[links[:, 0], links[:, 1]] = 1.0
            labels[row, : len(t), : len(s)] = torch.from_numpy(linked[np.ix_(src_words, tgt_words)].T)
        return labels / labels.sum(-1, keepdim=True).clamp_min(1.0)  # a labelled row holds a 1 or more
