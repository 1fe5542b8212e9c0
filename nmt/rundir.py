"""The run directory: everything needed to translate later lives in one folder.

config.yaml            resolved configuration of the run
spm.model              sentencepiece model (spm.src.model / spm.tgt.model when not joint)
best.pt, last.pt       checkpoints: best validation BLEU, and the latest (with optimizer state)
train.log              training log; tensorboard/ holds the TensorBoard events
hyps/                  hypotheses and scores written by `nmt evaluate`
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from nmt.data.vocab import Vocab, vocab_paths
from nmt.errors import NmtError
from nmt.models import EncoderDecoder, build_model

CHECKPOINTS = ("best", "last")


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically, so an interrupted save never leaves a broken checkpoint behind."""
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_config(run_dir: str | Path) -> DictConfig:
    path = Path(run_dir) / "config.yaml"
    if not Path(run_dir).is_dir():
        raise NmtError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise NmtError(f"{run_dir}: not a run directory (no config.yaml); train one with `nmt train`")
    return OmegaConf.load(path)


def checkpoint_path(run_dir: str | Path, checkpoint: str = "best") -> Path:
    """``best``/``last`` inside the run (best falls back to last), or a path to a .pt file."""
    run_dir = Path(run_dir)
    if checkpoint not in CHECKPOINTS:
        path = Path(checkpoint)
    else:
        path = run_dir / f"{checkpoint}.pt"
        if not path.exists() and checkpoint == "best":
            path = run_dir / "last.pt"
    if not path.is_file():
        raise NmtError(f"{run_dir}: no checkpoint {path.name} (has training saved one yet?)")
    return path


@dataclass
class Run:
    """A trained model with its vocabularies and configuration, ready to translate."""

    dir: Path
    cfg: DictConfig
    model: EncoderDecoder
    src_vocab: Vocab
    tgt_vocab: Vocab
    step: int


def load_run(run_dir: str | Path, checkpoint: str = "best", device: torch.device | str = "cpu") -> Run:
    """Load a run directory's config, vocabularies and checkpoint (model in eval mode on ``device``)."""
    cfg = load_config(run_dir)
    path = checkpoint_path(run_dir, checkpoint)
    src_path, tgt_path = vocab_paths(run_dir, cfg.data.spm.joint)
    for vocab in (src_path, tgt_path):
        if not vocab.is_file():
            raise NmtError(f"{run_dir}: sentencepiece model {vocab.name} is missing")
    src_vocab, tgt_vocab = Vocab(src_path), Vocab(tgt_path)
    specials = tgt_vocab.sp
    model = build_model(
        cfg.model,
        len(src_vocab),
        len(tgt_vocab),
        specials.pad_id(),
        bos_id=specials.bos_id(),
        eos_id=specials.eos_id(),
    )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, EOFError, OSError) as e:
        raise NmtError(f"{path}: cannot load checkpoint ({str(e).splitlines()[0]})") from None
    return Run(Path(run_dir), cfg, model.to(device).eval(), src_vocab, tgt_vocab, int(state.get("step", 0)))
