"""From a run config to sentence pairs and tensors for the small splits (validation and test).

The training split is prepared once into the data cache (``nmt.data.store``); these splits stay small
enough to be held as lists, as translation and evaluation need their strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nmt.config import DataConfig
from nmt.data.batching import Batch, make_batch
from nmt.data.clean import normalize_pairs
from nmt.data.sources import load_split
from nmt.data.vocab import Vocab

Pairs = list[tuple[str, str]]


def load_pairs(data: DataConfig, split: str, cache_dir: str | Path) -> Pairs:
    """The sentence pairs of ``split`` of the corpus ``data`` (a run config's ``data``, read through
    the data cache ``cache_dir``): training pairs cleaned, valid/test only NFC-normalised."""
    if split == "train":
        from nmt.data.prepared_text import open_text, prepare_text  # `datasets` takes a second to import

        text = open_text(prepare_text(data, cache_dir))
        return list(zip(text["src"], text["tgt"], strict=True))
    return normalize_pairs(load_split(data, split, cache_dir))


@dataclass
class EncodedPairs:
    """Subword ids of a parallel corpus, ready to batch."""

    src: list[list[int]]
    tgt: list[list[int]]

    @classmethod
    def encode(cls, pairs: Sequence[tuple[str, str]], src_vocab: Vocab, tgt_vocab: Vocab) -> EncodedPairs:
        return cls(src_vocab.encode([s for s, _ in pairs]), tgt_vocab.encode([t for _, t in pairs]))

    def __len__(self) -> int:
        return len(self.src)

    def batch(self, indices: Sequence[int]) -> Batch:
        return make_batch([self.src[i] for i in indices], [self.tgt[i] for i in indices])
