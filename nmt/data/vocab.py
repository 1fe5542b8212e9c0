"""Sentencepiece subword vocabularies: trained on the training split, stored in the run directory.

Ids are fixed for every model: pad 0, unk 1, bos 2, eos 3.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

from nmt.config import SubwordConfig
from nmt.errors import NmtError

PAD, UNK, BOS, EOS = 0, 1, 2, 3
EOS_PIECE = "</s>"  # how EOS is shown beside subword pieces (alignment matrices)
log = logging.getLogger(__name__)


class Vocab:
    """Text <-> subword ids with one sentencepiece model."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(path))
        except (OSError, RuntimeError) as e:
            raise NmtError(f"{path}: not a sentencepiece model ({str(e).splitlines()[0]})") from None

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.sp.encode(list(texts))

    def decode(self, ids: Sequence[Sequence[int]]) -> list[str]:
        return self.sp.decode([list(i) for i in ids])

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.sp.id_to_piece(i) for i in ids]


def vocab_paths(run_dir: str | Path, joint: bool) -> tuple[Path, Path]:
    """Where a run keeps its source and target sentencepiece models (the same file when joint)."""
    run_dir = Path(run_dir)
    if joint:
        return run_dir / "spm.model", run_dir / "spm.model"
    return run_dir / "spm.src.model", run_dir / "spm.tgt.model"


def train_vocab(texts: Iterable[str], path: Path, cfg: SubwordConfig, seed: int = 0) -> None:
    """Train a sentencepiece model on ``texts`` and write it to ``path`` (a ``.model`` file).

    A corpus of more than ``cfg.input_sentence_size`` sentences is sampled down to that many here,
    with a generator seeded by ``seed``: sentencepiece's own sampling differs from run to run even
    with its random seed set, and the same seed must give the same vocabulary.
    """
    sentences = list(texts)
    if len(sentences) > cfg.input_sentence_size:
        log.info("sampling %d of %d sentences (seed %d)", cfg.input_sentence_size, len(sentences), seed)
        sentences = random.Random(seed).sample(sentences, cfg.input_sentence_size)
    log.info("training a %s sentencepiece model of %d pieces -> %s", cfg.model_type, cfg.vocab_size, path)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_prefix=str(path.with_suffix("")),
        model_type=cfg.model_type,
        vocab_size=cfg.vocab_size,
        character_coverage=cfg.character_coverage,
        hard_vocab_limit=False,  # tiny corpora get the vocabulary they can support
        pad_id=PAD,
        unk_id=UNK,
        bos_id=BOS,
        eos_id=EOS,
        num_threads=2,
        minloglevel=2,
    )


def load_or_train_vocabs(
    run_dir: str | Path, cfg: SubwordConfig, pairs: Sequence[tuple[str, str]], seed: int = 0
) -> tuple[Vocab, Vocab]:
    """The run's source and target vocabularies, trained on ``pairs`` (and ``seed``, see
    ``train_vocab``) unless already present."""
    src_path, tgt_path = vocab_paths(run_dir, cfg.joint)
    if cfg.joint:
        if not src_path.exists():
            train_vocab((s for pair in pairs for s in pair), src_path, cfg, seed)
    else:
        for path, side in ((src_path, 0), (tgt_path, 1)):
            if not path.exists():
                train_vocab((pair[side] for pair in pairs), path, cfg, seed)
    return Vocab(src_path), Vocab(tgt_path)
