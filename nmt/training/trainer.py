"""The training loop: Adam, clipping, label smoothing, gradient accumulation, validation BLEU,
checkpoints that resume exactly (``nmt/training/checkpoint.py``), TensorBoard.

``Trainer`` is one run's loop, set up by ``nmt.training.run.train``. It runs alike on one CPU, one
GPU, or many GPUs under ``torchrun`` (DistributedDataParallel, one shard of the batches per rank,
rank 0 validating, logging and saving).
"""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from nmt.data.batching import Batch, TokenBatches
from nmt.data.prefetch import prefetch
from nmt.data.store import EncodedCorpus
from nmt.errors import NmtError
from nmt.models import EncoderDecoder
from nmt.rundir import save_checkpoint
from nmt.runtime import Distributed
from nmt.training.checkpoint import (
    Progress,
    gather_rng_states,
    save_snapshots,
    set_rng_state,
    snapshot,
    training_state,
)
from nmt.training.compile_choice import training_compile
from nmt.training.logs import RunLog, log, log_padding
from nmt.training.precision import PROBE_BATCHES, training_precision
from nmt.training.schedule import lr_multiplier
from nmt.training.signals import StopSignals
from nmt.training.step import UpdateStep
from nmt.training.validation import Validation, record_bleu


class Trainer:
    """One training run: owns the model, optimiser, batches and the run directory's outputs.

    ``cfg`` is the run's whole config: the probes of ``trainer.precision`` and ``trainer.compile`` key
    their measurements on its model and cache them in its ``cache_dir``; the loop reads ``cfg.trainer``.
    """

    def __init__(
        self,
        cfg: DictConfig,
        model: EncoderDecoder,
        train_data: EncodedCorpus,
        validation: Validation,
        ranks: Distributed,
        device: torch.device,
        signals: StopSignals,
        provenance: dict[str, Any],
        report: RunLog,
    ) -> None:
        self.provenance = provenance  # written into every checkpoint (nmt.training.provenance)
        self.tc, self.device, self.ranks, self.signals = cfg.trainer, device, ranks, signals
        self.run_dir, self.report = Path(cfg.run_dir), report
        self.model, self.train_data, self.validation = model, train_data, validation
        self.batches = TokenBatches(
            train_data.src_lengths,
            train_data.tgt_lengths,
            self.tc.batch_tokens,
            seed=cfg.seed,
            rank=ranks.rank,
            world=ranks.world,
            pad_to_multiple=self.tc.pad_to_multiple,
        )
        lengths = train_data.src_lengths, train_data.tgt_lengths
        shapes = log_padding(lengths, self.batches, self.tc, cfg.seed, ranks)
        first = [self._train_batch(indices).to(device) for indices in self.batches.batches()[:PROBE_BATCHES]]
        self.dtype, speedups, precision = training_precision(cfg, model, first, device, ranks)
        log.info("precision: %s", precision)
        loss, compiling = training_compile(cfg, model, first[0], device, ranks, self.dtype, speedups, shapes)
        log.info("compile: %s", compiling)
        self.update = UpdateStep(model, self.tc, device, self.dtype, ranks, speedups, loss)
        self.optimizer, self.scaler = self.update.optimizer, self.update.scaler
        self.lr_multiplier = lr_multiplier(self.tc)
        self.progress = Progress()
        report.shown_sentences(validation.shown, self.progress.step)
        self.clock = time.perf_counter()  # training time since then is not yet in progress.train_seconds
        self.last_save = time.monotonic()

    def restore(self, state: dict[str, Any], path: Path) -> None:
        """Continue from a training state (``read_training_state``), exactly where it stopped."""
        self.model.load_state_dict(state["model"])
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ValueError as error:  # parameters of another layout: an older nmt's q/k/v projections
            raise NmtError(
                f"{path}: its optimiser state does not fit this model's parameters ({error}); it was "
                "saved by another version of nmt: its weights still translate and average, but training "
                "cannot resume from it (train into a new run_dir=...)"
            ) from error
        self.scaler.load_state_dict(state["scaler"])
        self.progress = p = Progress(**state["progress"])
        if len(state["rng"]) == self.ranks.world:
            set_rng_state(state["rng"][self.ranks.rank])
        else:  # another number of processes: another batch order, so the epoch starts again
            log.warning(
                "%s was saved by %d process(es), this run has %d: continuing at the next epoch",
                path,
                len(state["rng"]),
                self.ranks.world,
            )
            p.epoch, p.batches_done = p.epoch + 1, 0
        log.info(
            "resumed from %s at step %d (epoch %d, batch %d; best BLEU %.2f)",
            path,
            p.step,
            p.epoch,
            p.batches_done,
            p.best_bleu,
        )

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict[str, float]:
        """Train until the step or time budget is spent, patience runs out, or a signal asks to stop."""
        tc, p, scores = self.tc, self.progress, None  # None until a validation has run (other ranks get {})
        bar = tqdm(
            total=tc.max_steps,
            initial=p.step,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            disable=not self.ranks.is_main,
        )
        finished = self._agree(self._out_of_budget())[0]
        self.clock = time.perf_counter()
        while not finished:
            self.batches.set_epoch(p.epoch)
            order = self.batches.batches()
            starts = range(p.batches_done, len(order), tc.update_freq)
            groups = (order[start : start + tc.update_freq] for start in starts)
            with closing(prefetch(groups, self._train_group)) as ready:
                for batches in ready:
                    updated = self.train_step(batches)
                    p.batches_done += len(batches)
                    self._tick()
                    if updated:
                        bar.update()
                        finished, validated = self._after_update(bar)
                        scores = scores if validated is None else validated
                    if finished:
                        break
            if p.batches_done >= len(order):
                p.epoch, p.batches_done = p.epoch + 1, 0
        bar.close()
        self.report.compilations(self.update.loss, p.step)
        self.report.close()
        return scores if scores is not None else self.validate()

    def _train_batch(self, indices: np.ndarray) -> Batch:
        """The training pairs at ``indices``, padded to the batches' length multiple."""
        return self.train_data.batch(indices).padded_to(self.tc.pad_to_multiple)

    def _train_group(self, group: list[np.ndarray]) -> list[Batch]:
        """One update's batches, made by the prefetch thread: in pinned memory on CUDA, so that the
        step's ``Batch.to`` copies them without the host waiting."""
        batches = [self._train_batch(indices) for indices in group]
        return [batch.pin_memory() for batch in batches] if self.device.type == "cuda" else batches

    def train_step(self, batches: list[Batch]) -> bool:
        """One optimiser update over ``batches`` (``UpdateStep``); False: skipped for a non-finite loss."""
        loss, updated = self.update(batches, self.learning_rate())
        if not updated:
            self._skip(loss)
            return False
        self.progress.step += 1
        self.progress.bad_steps = 0
        tokens = sum(batch.num_tokens for batch in batches)
        self.report.window.add(loss, tokens, tokens + sum(int(b.src_mask.sum()) for b in batches))
        return True

    def _skip(self, loss: float) -> None:
        """Drop an update whose loss is not finite; stop after ``trainer.max_bad_steps`` in a row."""
        p, limit = self.progress, self.tc.max_bad_steps
        self.optimizer.zero_grad(set_to_none=True)
        p.bad_steps, p.skipped_steps = p.bad_steps + 1, p.skipped_steps + 1
        log.warning("step %d: loss %s, update skipped (%d in a row)", p.step + 1, loss, p.bad_steps)
        if p.bad_steps >= limit:
            raise NmtError(
                f"step {p.step + 1}: the loss was not finite in {limit} updates in a row "
                f"(trainer.max_bad_steps={limit}); lower trainer.lr or raise trainer.warmup_steps "
                "(last.pt keeps the last good state)"
            )

    def _after_update(self, bar: tqdm) -> tuple[bool, dict[str, float] | None]:
        """Log, validate, save and obey signals as due; returns (finished, validation scores or None)."""
        tc, p = self.tc, self.progress
        if p.step % tc.log_every == 0:
            lr = self.optimizer.param_groups[0]["lr"]
            self.report.updates(bar, p, lr, tc, self.update.loss)
        minutes = tc.save_every_minutes
        out_of_budget, signalled, save_due = self._agree(
            self._out_of_budget(),
            self.signals.received is not None,
            minutes is not None and time.monotonic() - self.last_save >= 60 * minutes,
        )
        periodic = save_due or bool(tc.save_every and p.step % tc.save_every == 0)
        scores = None
        if p.step % tc.valid_every == 0 or out_of_budget:
            scores = self.validate(periodic)
        elif signalled or periodic:
            self._save(periodic=periodic)
        if signalled:
            bar.close()
            self.report.close()
            note = f"saved {self.run_dir / 'last.pt'} at step {p.step}; run the same command to resume"
            log.info("%s", note)
            self.signals.stop(note)
        self.clock = time.perf_counter()  # validating and saving is not training time
        patience_lost = tc.patience is not None and p.stale >= tc.patience
        return out_of_budget or patience_lost, scores

    def _tick(self) -> None:
        now = time.perf_counter()
        self.progress.train_seconds += now - self.clock
        self.report.window.seconds += now - self.clock
        self.clock = now

    def _agree(self, *flags: bool) -> list[bool]:
        """Each flag, true on every rank when it is true on any."""
        return self.ranks.agree(list(flags), self.device)

    def learning_rate(self) -> float:
        """``trainer.lr`` times the schedule's multiplier at this step and this far into the budget."""
        return self.tc.lr * self.lr_multiplier(self.progress.step, self.budget_spent())

    def budget_spent(self) -> float:
        """The fraction of the budget used so far: steps or minutes, whichever is further along."""
        spent = self.progress.step / self.tc.max_steps
        if self.tc.max_minutes is not None:
            spent = max(spent, self.progress.train_seconds / (60 * self.tc.max_minutes))
        return spent

    def _out_of_budget(self) -> bool:
        return self.budget_spent() >= 1

    # ------------------------------------------------------- validation and saving
    def validate(self, periodic: bool = False) -> dict[str, float]:
        """Validation loss and greedy BLEU on rank 0; then every rank saves: last.pt, best.pt when BLEU
        improves, best_step_N.pt when among the ``trainer.keep_best`` best, step_N.pt if ``periodic``."""
        scores: dict[str, float] = {}
        p, improved = self.progress, False
        if self.ranks.is_main:
            scores = self.validation.scores(self.model, self.device, self.dtype)
            improved = record_bleu(p, scores["bleu"], self.tc.keep_best)
            self.report.validation(scores, p.step, improved)
            if self.report.heatmap is not None and self.validation.shown:
                self.report.attention(self.validation.attention(self.model, self.device, self.dtype), p.step)
        p.stale = int(self.ranks.all_reduce_sum(p.stale if self.ranks.is_main else 0, self.device))
        self._save(best=improved, periodic=periodic)
        return scores

    def _save(self, best: bool = False, periodic: bool = False) -> None:
        """Write last.pt (the full training state) and the snapshots due; every rank calls it (it gathers
        their RNG states), rank 0 writes. Snapshots first, last.pt last: a kill in between loses nothing."""
        rng = gather_rng_states(self.ranks)
        self.last_save = time.monotonic()
        if not self.ranks.is_main:
            return
        p, tc = self.progress, self.tc
        weights = snapshot(self.model, p, self.provenance)
        save_snapshots(
            self.run_dir,
            weights,
            p,
            best=best,
            periodic=periodic,
            keep_last=tc.keep_last,
            keep_best=tc.keep_best,
        )
        state = training_state(self.model, self.optimizer, self.scaler, p, rng, self.provenance)
        save_checkpoint(self.run_dir / "last.pt", state)
