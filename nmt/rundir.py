"""The run directory: everything needed to translate later lives in one folder.

config.yaml            resolved configuration of the run; under ``built``, what was built from it
spm.model              sentencepiece model (spm.src.model / spm.tgt.model when not joint)
best.pt, last.pt       checkpoints: best validation BLEU, and the latest (the full training state)
step_N.pt, best_step_N.pt   the latest periodic and the best-BLEU snapshots (trainer.keep_last/keep_best)
.lock                  held by the `nmt train` writing into the directory
train.log              training log; tensorboard/ holds the TensorBoard events
hyps/                  hypotheses and scores written by `nmt evaluate`
"""

from __future__ import annotations

import errno
import re
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nmt.config import DataConfig, RNNConfig, TransformerConfig
from nmt.data.vocab import Vocab, vocab_paths
from nmt.errors import NmtError
from nmt.models import EncoderDecoder, build_model
from nmt.outputs import atomic_write, write_text
from nmt.runtime import process_alive

CHECKPOINTS = ("best", "last")


TEMPORARY = re.compile(r"\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp")
"""A checkpoint being written: ``.NAME.PID.RANDOM.tmp`` (the writer's process id)."""


TORCH_WRITE_FAILURES = ("PytorchStreamWriter", "unexpected pos", "file write failed")


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically (``nmt.outputs.atomic_write``), so a kill at any moment leaves the previous
    checkpoint whole. A full disk is named with the space the checkpoint needs."""
    try:
        with atomic_write(path, "wb") as file:
            torch.save(payload, file)
    except (OSError, RuntimeError) as e:  # torch reports a failed write as a RuntimeError
        full = isinstance(e, OSError) and e.errno == errno.ENOSPC
        failed_write = isinstance(e, RuntimeError) and any(m in str(e) for m in TORCH_WRITE_FAILURES)
        if not (full or failed_write):
            raise
        raise NmtError(f"{path}: {_no_space(path, payload)}") from None


def _no_space(path: Path, payload: dict[str, Any]) -> str:
    """Why a checkpoint could not be written to a full disk, in numbers (MB)."""
    tensors = [value for value in _leaves(payload) if isinstance(value, torch.Tensor)]
    needed = sum(tensor.numel() * tensor.element_size() for tensor in tensors) / 1e6
    free = shutil.disk_usage(path.parent).free / 1e6
    return (
        f"cannot write the checkpoint, the disk is full: it needs about {needed:.1f} MB, "
        f"{free:.1f} MB are free in {path.parent}"
    )


def _leaves(value: Any) -> list[Any]:
    """Every value inside nested dicts and lists."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents (tensors on the CPU); a damaged or foreign file is named in an NmtError."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for damaged files: pickle, zip, EOF, runtime errors
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise NmtError(f"{path}: cannot load checkpoint, the file is damaged or not one ({reason})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise NmtError(f"{path}: not an nmt checkpoint (no model state)")
    return state


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the checkpoint temporaries of writers that died mid-write (a kill), never a live one's."""
    stale = [
        path
        for path in run_dir.glob(".*.tmp")
        if (match := TEMPORARY.fullmatch(path.name)) and not process_alive(int(match[2]))
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def save_config(run_dir: Path, cfg: DictConfig, vocab_models: tuple[Path, Path]) -> list[str]:
    """Write ``config.yaml``: the resolved ``cfg`` and, under ``built.vocab_size``, the size of each
    vocabulary built (``data.spm.vocab_size`` stays as asked, so the same command resumes the run and
    finds its cache entries). Returns a line for each vocabulary smaller than asked."""
    sizes = {path.name: len(Vocab(path)) for path in vocab_models}
    saved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    saved.built = {"vocab_size": sizes}
    write_text(Path(run_dir) / "config.yaml", OmegaConf.to_yaml(saved))
    asked = cfg.data.spm.vocab_size
    return [
        f"data.spm.vocab_size={asked} asked, {name} has {size} pieces: the training corpus supports no more "
        f"(config.yaml records it as built.vocab_size)"
        for name, size in sizes.items()
        if size < asked
    ]


def load_config(run_dir: str | Path) -> DictConfig:
    path = Path(run_dir) / "config.yaml"
    if not Path(run_dir).is_dir():
        raise NmtError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise NmtError(f"{run_dir}: not a run directory (no config.yaml); train one with `nmt train`")
    try:
        cfg = OmegaConf.load(path)
    except Exception as e:  # yaml's scanner and parser errors, OmegaConf's grammar errors
        raise NmtError(f"{path}: malformed ({' '.join(str(e).split())})") from None
    if not isinstance(cfg, DictConfig) or "model" not in cfg or "data" not in cfg:
        raise NmtError(f"{path}: malformed (no model and data sections)")
    check_model_keys(path, cfg.model)
    # a run saved before a data option existed reads as that option's default (data.tokenize: none)
    cfg.data = OmegaConf.merge(OmegaConf.to_container(OmegaConf.structured(DataConfig)), cfg.data)
    return cfg


MODEL_SCHEMAS = {"rnn": RNNConfig, "transformer": TransformerConfig}


def check_model_keys(path: Path, model: Any) -> None:
    """Refuse a saved ``model`` section with an architecture, key or value its schema does not have,
    naming the file and the key (a run saved before a model option existed reads as its default)."""
    schema = MODEL_SCHEMAS.get(model.get("arch")) if isinstance(model, DictConfig) else None
    if schema is None:
        arch = model.get("arch") if isinstance(model, DictConfig) else model
        raise NmtError(f"{path}: model.arch={arch}: choose one of {', '.join(MODEL_SCHEMAS)}")
    unknown = sorted(set(model) - {f.name for f in fields(schema)})
    if unknown:
        keys = ", ".join(f"model.{key}" for key in unknown)
        raise NmtError(f"{path}: unknown key {keys} (not an option of model.arch={model.arch})")
    try:
        OmegaConf.merge(OmegaConf.structured(schema), model)
    except OmegaConfBaseException as e:
        raise NmtError(f"{path}: model.{e.full_key}: {' '.join(str(e).splitlines()[0].split())}") from None


RUN_DEFINING_KEYS = ("model", "data.src_lang", "data.tgt_lang", "data.spm")
"""What a run directory's checkpoints and vocabularies depend on: retraining into it must keep them."""


def check_same_run(run_dir: str | Path, cfg: DictConfig) -> None:
    """Refuse, before anything is written, to train ``cfg`` into a run directory made for another model."""
    if not (Path(run_dir) / "config.yaml").exists():
        return
    saved = load_config(run_dir)
    new = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    changed = [
        f"{key}: {OmegaConf.select(saved, key)} -> {OmegaConf.select(new, key)}"
        for key in _leaf_keys(new, RUN_DEFINING_KEYS)
        if OmegaConf.select(saved, key) != OmegaConf.select(new, key)
    ]
    if changed:
        raise NmtError(
            f"{run_dir} holds a run of another model or vocabulary ({'; '.join(changed)}); "
            "train into a new run_dir=..., or keep its settings to resume it"
        )


def _leaf_keys(cfg: DictConfig, roots: tuple[str, ...]) -> list[str]:
    """Dotted keys of every value under ``roots`` (``model`` -> ``model.hidden_dim``, ...)."""
    keys = []
    for root in roots:
        node = OmegaConf.select(cfg, root)
        if isinstance(node, DictConfig):
            keys += _leaf_keys(node, tuple(f"{root}.{k}" for k in node))
        else:
            keys.append(root)
    return keys


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
    state = load_checkpoint(path)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise NmtError(f"{path}: does not fit the run's model ({str(e).splitlines()[0]})") from None
    return Run(Path(run_dir), cfg, model.to(device).eval(), src_vocab, tgt_vocab, int(state.get("step", 0)))
