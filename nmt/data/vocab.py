"""Sentencepiece subword vocabularies: trained on the training split, kept in the run directory.

Ids are fixed for every model: pad 0, unk 1, bos 2, eos 3.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
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


def install_vocabs(models: tuple[Path, Path], run_dir: str | Path, joint: bool) -> None:
    """Copy the sentencepiece ``models`` (source, target) into the run directory, unless already there."""
    for model, dest in zip(models, vocab_paths(run_dir, joint), strict=True):
        if not dest.exists():
            temp = dest.with_suffix(".model.tmp")
            shutil.copyfile(model, temp)
            temp.replace(dest)  # atomic: other ranks never see half a model


SPM_THREADS = 2
"""Sentencepiece trains in this many threads whatever the machine: the pieces it picks depend on its
thread count, and a config must give the same vocabulary everywhere."""


def train_vocab(sentences: Sequence[str], path: Path, cfg: SubwordConfig, threads: int = SPM_THREADS) -> None:
    """Train a sentencepiece model on ``sentences`` in ``threads`` threads and write it to ``path`` (a
    ``.model`` file).

    Large corpora are sampled before (``nmt.data.store.sample_sentences``): sentencepiece's own
    sampling differs from run to run even with its random seed set. Raises NmtError when
    ``cfg.vocab_size`` is smaller than the characters of ``sentences`` need.
    """
    log.info("training a %s sentencepiece model of %d pieces -> %s", cfg.model_type, cfg.vocab_size, path)
    try:
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
            num_threads=threads,
            minloglevel=2,
        )
    except RuntimeError as e:
        too_small = re.search(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)", str(e))
        if too_small is None:
            raise
        raise NmtError(
            f"data.spm.vocab_size={cfg.vocab_size} is too small for the characters of the training "
            f"corpus: it needs at least {too_small[2]} (or a lower data.spm.character_coverage, "
            f"now {cfg.character_coverage})"
        ) from None
