"""``train(cfg)``: everything ``nmt train`` does after Hydra has composed the config: check it, set up
the device and the processes, prepare the data, open the run directory, build the model and hand it
to the ``Trainer``.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from tqdm.contrib.logging import logging_redirect_tqdm

from nmt.config_checks import check_training_config
from nmt.data.pipeline import Pairs, load_pairs
from nmt.data.prepared_text import text_identity
from nmt.data.store import TrainingData, prepare_training_data
from nmt.data.vocab import PAD, Vocab, install_vocabs, vocab_paths
from nmt.models import EncoderDecoder, build_model
from nmt.outputs import check_output
from nmt.rundir import check_same_run, remove_stale_temporaries, save_config
from nmt.runtime import Distributed, available_cpus, init_distributed, resolve_device, seed_everything
from nmt.training.checkpoint import read_training_state
from nmt.training.cluster import export_submitit_distributed_env
from nmt.training.lock import run_dir_lock
from nmt.training.logs import Heatmap, RunLog, log, log_to_file
from nmt.training.provenance import check_same_data, new_record, new_run_id
from nmt.training.showcase import choose_shown
from nmt.training.signals import StopSignals
from nmt.training.trainer import Trainer
from nmt.training.validation import Validation


def train(cfg: DictConfig, heatmap: Heatmap | None = None) -> dict[str, float]:
    """Train the model ``cfg`` describes into ``cfg.run_dir``; returns the last validation scores.
    ``heatmap`` draws the attention of the sentences ``nmt.training.showcase`` chooses into TensorBoard
    (None: none are drawn).

    Everything that can refuse (the config's values, a run directory made for another model, a
    directory another ``nmt train`` holds, a damaged ``last.pt``) is checked before anything is written.
    """
    check_training_config(cfg)
    run_dir = Path(cfg.run_dir)
    check_output(run_dir, "run_dir", folder=True)
    device, ranks = _processes(cfg)
    with ExitStack() as stack:
        if ranks.is_main:
            check_same_run(run_dir, cfg)
        resume = _state_to_resume(cfg, run_dir)
        identity = text_identity(cfg.data, cfg.cache_dir)
        data_changes = check_same_data(resume, identity, cfg.trainer.allow_data_change) if resume else []
        data = _training_data(cfg, run_dir, ranks)  # before the run directory is touched
        valid_pairs = load_pairs(cfg.data, "valid", cfg.cache_dir)
        stale = _open_run_dir(stack, cfg, run_dir, data) if ranks.is_main else []
        log.info("run directory %s, device %s, %d process(es)", run_dir, device, ranks.world)
        if stale:
            names = ", ".join(p.name for p in stale)
            log.info("removed %d checkpoint temporaries of killed writers: %s", len(stale), names)
        for change in data_changes:
            log.warning("trainer.allow_data_change: continuing on changed training data: %s", change)
        run_id = (resume or {}).get("provenance", {}).get("run_id") or new_run_id()
        provenance = new_record(cfg, data.vocab_models, identity, run_id)
        signals = stack.enter_context(StopSignals())
        log.info("training pairs: %s", data.summary())
        log.info("%d training pairs, %d validation pairs", len(data.corpus), len(valid_pairs))
        src_vocab, tgt_vocab = (Vocab(path) for path in data.vocab_models)
        model = _model(cfg, len(src_vocab), len(tgt_vocab), device)
        validation = _validation(cfg, valid_pairs, src_vocab, tgt_vocab)
        report = RunLog(run_dir, ranks.is_main, heatmap)
        trainer = Trainer(cfg, model, data.corpus, validation, ranks, device, signals, provenance, report)
        if resume is not None:
            trainer.restore(resume, run_dir / "last.pt")
        with logging_redirect_tqdm():
            return trainer.fit()


def _processes(cfg: DictConfig) -> tuple[torch.device, Distributed]:
    """This process's device and its place among the run's processes (``torchrun``, a Slurm job), its
    CPU threads set and every random generator seeded."""
    export_submitit_distributed_env()
    device = resolve_device(cfg.trainer.device)
    ranks = init_distributed(device)
    torch.set_num_threads(cfg.trainer.threads or min(torch.get_num_threads(), available_cpus()))
    seed_everything(cfg.seed)
    return device, ranks


def _state_to_resume(cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """The training state in ``last.pt`` when resuming, with the run's vocabularies checked as well, so a
    damaged run directory is named before anything is written into it."""
    for path in set(vocab_paths(run_dir, cfg.data.spm.joint)):
        if path.exists():
            Vocab(path)
    last = run_dir / "last.pt"
    return read_training_state(last) if cfg.trainer.resume and last.is_file() else None


def _training_data(cfg: DictConfig, run_dir: Path, ranks: Distributed) -> TrainingData:
    """The prepared training corpus: rank 0 prepares it (before the run directory is touched, so bad
    data leaves it as it was), the other ranks open what rank 0 prepared."""
    labels = cfg.trainer.alignment_weight > 0  # supervised attention: batches carry links
    if ranks.is_main:
        data = prepare_training_data(cfg.data, cfg.cache_dir, run_dir, labels=labels)
    ranks.barrier()
    if not ranks.is_main:
        data = prepare_training_data(cfg.data, cfg.cache_dir, run_dir, labels=labels, build=False)
    return data


def _open_run_dir(stack: ExitStack, cfg: DictConfig, run_dir: Path, data: TrainingData) -> list[Path]:
    """Rank 0 takes the run directory for the run (held until ``stack`` closes), writes its config and
    vocabularies and attaches ``train.log``; returns the checkpoint temporaries it removed."""
    stack.enter_context(run_dir_lock(run_dir))
    stale = remove_stale_temporaries(run_dir)
    smaller = save_config(run_dir, cfg, data.vocab_models)
    stack.enter_context(log_to_file(run_dir / "train.log"))
    install_vocabs(data.vocab_models, run_dir, cfg.data.spm.joint)
    for line in smaller:
        log.warning(line)
    return stale


def _model(cfg: DictConfig, src_vocab: int, tgt_vocab: int, device: torch.device) -> EncoderDecoder:
    """The model ``cfg.model`` describes, for vocabularies of these sizes, on ``device``."""
    model = build_model(cfg.model, src_vocab, tgt_vocab, PAD).to(device)
    log.info(
        "%s: %s parameters, vocabularies %d/%d",
        cfg.model.name,
        f"{model.num_parameters():,}",
        src_vocab,
        tgt_vocab,
    )
    return model


def _validation(cfg: DictConfig, pairs: Pairs, src_vocab: Vocab, tgt_vocab: Vocab) -> Validation:
    """The validation ``pairs`` and the sentences TensorBoard shows (``nmt.training.showcase``)."""
    tc, languages = cfg.trainer, (cfg.data.src_lang, cfg.data.tgt_lang)
    shown = choose_shown(pairs, languages, tc.attention_images, tc.attention_sentences, cfg.data.lowercase)
    return Validation(pairs, src_vocab, tgt_vocab, tc, shown)
