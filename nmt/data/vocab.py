"""Sentencepiece subword vocabularies: trained on the training split, stored in the run directory.

Ids are fixed for every model: pad 0, unk 1, bos 2, eos 3.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

from nmt.config import SubwordConfig

PAD, UNK, BOS, EOS = 0, 1, 2, 3
EOS_PIECE = "</s>"  # how EOS is shown beside subword pieces (alignment matrices)
log = logging.getLogger(__name__)


class Vocab:
    """Text <-> subword ids with one sentencepiece model."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.sp = spm.SentencePieceProcessor(model_file=str(path))

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


def train_vocab(texts: Iterable[str], path: Path, cfg: SubwordConfig) -> None:
    """Train a sentencepiece model on ``texts`` and write it to ``path`` (a ``.model`` file)."""
    log.info("training a %s sentencepiece model of %d pieces -> %s", cfg.model_type, cfg.vocab_size, path)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_prefix=str(path.with_suffix("")),
        model_type=cfg.model_type,
        vocab_size=cfg.vocab_size,
        character_coverage=cfg.character_coverage,
        input_sentence_size=cfg.input_sentence_size,
        shuffle_input_sentence=True,
        hard_vocab_limit=False,  # tiny corpora get the vocabulary they can support
        pad_id=PAD,
        unk_id=UNK,
        bos_id=BOS,
        eos_id=EOS,
        num_threads=2,
        minloglevel=2,
    )


def load_or_train_vocabs(
    run_dir: str | Path, cfg: SubwordConfig, pairs: Sequence[tuple[str, str]]
) -> tuple[Vocab, Vocab]:
    """The run's source and target vocabularies, trained on ``pairs`` unless already present."""
    src_path, tgt_path = vocab_paths(run_dir, cfg.joint)
    if cfg.joint:
        if not src_path.exists():
            train_vocab((s for pair in pairs for s in pair), src_path, cfg)
    else:
        for path, side in ((src_path, 0), (tgt_path, 1)):
            if not path.exists():
                train_vocab((pair[side] for pair in pairs), path, cfg)
    return Vocab(src_path), Vocab(tgt_path)
