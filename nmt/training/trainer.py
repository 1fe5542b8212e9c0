"""The training loop: Adam, clipping, label smoothing, gradient accumulation, validation BLEU,
checkpoints that resume exactly (``nmt/training/checkpoint.py``), TensorBoard.

``train(cfg)`` is everything ``nmt train`` does after Hydra has composed the config. It runs alike
on one CPU, one GPU, or many GPUs under ``torchrun`` (DistributedDataParallel, one shard of the
batches per rank, rank 0 validating, logging and saving).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import sacrebleu
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from omegaconf import DictConfig
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from nmt.config_checks import check_training_config
from nmt.data.batching import Batch, TokenBatches, batch_shape, pad_share
from nmt.data.pipeline import EncodedPairs, Pairs, load_pairs
from nmt.data.prefetch import prefetch
from nmt.data.prepared_text import text_identity
from nmt.data.store import EncodedCorpus, prepare_training_data
from nmt.data.vocab import PAD, Vocab, install_vocabs, vocab_paths
from nmt.decoding import DecodeConfig, generate
from nmt.errors import NmtError
from nmt.models import EncoderDecoder, build_model
from nmt.outputs import check_output
from nmt.rundir import check_same_run, remove_stale_temporaries, save_checkpoint, save_config
from nmt.runtime import (
    Distributed,
    autocast,
    available_cpus,
    init_distributed,
    resolve_device,
    seed_everything,
)
from nmt.training.checkpoint import (
    SNAPSHOT_NAME,
    Progress,
    gather_rng_states,
    prune_snapshots,
    read_training_state,
    set_rng_state,
    snapshot,
    snapshots,
    training_state,
)
from nmt.training.cluster import export_submitit_distributed_env
from nmt.training.compile_choice import training_compile
from nmt.training.lock import run_dir_lock
from nmt.training.precision import PROBE_BATCHES, training_precision
from nmt.training.provenance import check_same_data, new_record, new_run_id
from nmt.training.schedule import lr_multiplier
from nmt.training.showcase import choose_shown, shown_attention
from nmt.training.signals import StopSignals
from nmt.training.step import UpdateStep


class Heatmap(Protocol):
    """Draws a shown sentence's attention (T, S) between its target and source pieces (EOS included)
    for TensorBoard: ``nmt.alignment.plot.piece_heatmap``, which ``nmt train`` passes in."""

    def __call__(self, attention: torch.Tensor, src_pieces: list[str], tgt_pieces: list[str]) -> Figure: ...


log = logging.getLogger("nmt.train")
step_log = logging.getLogger("nmt.steps")  # one line per log_every steps, into train.log only


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
    export_submitit_distributed_env()
    device = resolve_device(cfg.trainer.device)
    ranks = init_distributed(device)
    torch.set_num_threads(cfg.trainer.threads or min(torch.get_num_threads(), available_cpus()))
    seed_everything(cfg.seed)
    with ExitStack() as stack:
        if ranks.is_main:
            check_same_run(run_dir, cfg)
        resume = _state_to_resume(cfg, run_dir)
        identity = text_identity(cfg.data, cfg.cache_dir)
        data_changes = check_same_data(resume, identity, cfg.trainer.allow_data_change) if resume else []
        labels = cfg.trainer.alignment_weight > 0  # supervised attention: batches carry links
        if ranks.is_main:  # before the run directory is touched: bad data leaves it as it was
            data = prepare_training_data(cfg.data, cfg.cache_dir, run_dir, labels=labels)
        ranks.barrier()  # the other ranks open what rank 0 prepared
        if not ranks.is_main:
            data = prepare_training_data(cfg.data, cfg.cache_dir, run_dir, labels=labels, build=False)
        valid_pairs = load_pairs(cfg, "valid")
        if ranks.is_main:
            stack.enter_context(run_dir_lock(run_dir))
            stale = remove_stale_temporaries(run_dir)
            smaller = save_config(run_dir, cfg, data.vocab_models)
            stack.enter_context(_log_to_file(run_dir / "train.log"))
            install_vocabs(data.vocab_models, run_dir, cfg.data.spm.joint)
            for line in smaller:
                log.warning(line)
        log.info("run directory %s, device %s, %d process(es)", run_dir, device, ranks.world)
        if ranks.is_main and stale:
            log.info(
                "removed %d checkpoint temporaries of killed writers: %s",
                len(stale),
                ", ".join(p.name for p in stale),
            )
        for change in data_changes:
            log.warning("trainer.allow_data_change: continuing on changed training data: %s", change)
        run_id = (resume or {}).get("provenance", {}).get("run_id") or new_run_id()
        provenance = new_record(cfg, data.vocab_models, identity, run_id)
        signals = stack.enter_context(StopSignals())
        log.info("training pairs: %s", data.summary())
        log.info("%d training pairs, %d validation pairs", len(data.corpus), len(valid_pairs))
        src_vocab, tgt_vocab = (Vocab(path) for path in data.vocab_models)
        model = build_model(cfg.model, len(src_vocab), len(tgt_vocab), PAD).to(device)
        log.info(
            "%s: %s parameters, vocabularies %d/%d",
            cfg.model.name,
            f"{model.num_parameters():,}",
            len(src_vocab),
            len(tgt_vocab),
        )
        trainer = Trainer(
            cfg,
            model,
            src_vocab,
            tgt_vocab,
            data.corpus,
            valid_pairs,
            device,
            ranks,
            signals,
            provenance,
            heatmap=heatmap,
        )
        if resume is not None:
            trainer.restore(resume, run_dir / "last.pt")
        with logging_redirect_tqdm():
            return trainer.fit()


def _state_to_resume(cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """The training state in ``last.pt`` when resuming, with the run's vocabularies checked as well, so a
    damaged run directory is named before anything is written into it."""
    for path in set(vocab_paths(run_dir, cfg.data.spm.joint)):
        if path.exists():
            Vocab(path)
    last = run_dir / "last.pt"
    return read_training_state(last) if cfg.trainer.resume and last.is_file() else None


class Trainer:
    """One training run: owns the model, optimiser, batches and the run directory's outputs."""

    def __init__(
        self,
        cfg: DictConfig,
        model: EncoderDecoder,
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        train_data: EncodedCorpus,
        valid_pairs: Pairs,
        device: torch.device,
        ranks: Distributed,
        signals: StopSignals,
        provenance: dict[str, Any],
        heatmap: Heatmap | None = None,
    ) -> None:
        self.provenance = provenance  # written into every checkpoint (nmt.training.provenance)
        self.cfg, self.tc, self.device, self.ranks, self.signals = cfg, cfg.trainer, device, ranks, signals
        self.run_dir = Path(cfg.run_dir)
        self.model, self.src_vocab, self.tgt_vocab = model, src_vocab, tgt_vocab
        self.train_data = train_data
        self.valid_data = EncodedPairs.encode(valid_pairs, src_vocab, tgt_vocab)
        self.valid_refs = [tgt for _, tgt in valid_pairs]
        languages = (cfg.data.src_lang, cfg.data.tgt_lang)
        self.shown = choose_shown(
            valid_pairs, languages, self.tc.attention_images, self.tc.attention_sentences, cfg.data.lowercase
        )
        self.batches = TokenBatches(
            train_data.src_lengths,
            train_data.tgt_lengths,
            self.tc.batch_tokens,
            seed=cfg.seed,
            rank=ranks.rank,
            world=ranks.world,
            pad_to_multiple=self.tc.pad_to_multiple,
        )
        shapes = self._log_padding()
        first = [self._train_batch(indices).to(device) for indices in self.batches.batches()[:PROBE_BATCHES]]
        self.dtype, speedups, precision = training_precision(cfg, model, first, device, ranks)
        log.info("precision: %s", precision)
        loss, compiling = training_compile(cfg, model, first[0], device, ranks, self.dtype, speedups, shapes)
        log.info("compile: %s", compiling)
        self.update = UpdateStep(model, self.tc, device, self.dtype, ranks, speedups, loss)
        self.optimizer, self.scaler = self.update.optimizer, self.update.scaler
        self.lr_multiplier = lr_multiplier(self.tc)
        self.writer = SummaryWriter(self.run_dir / "tensorboard") if ranks.is_main else None
        self.progress = Progress()
        self._record_shown()
        self.clock = time.perf_counter()  # training time since then is not yet in progress.train_seconds
        self.last_save = time.monotonic()
        self.window = Window()
        self.heatmap = heatmap  # draws validation attention into TensorBoard

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
        self._log_compilations()
        if self.writer:
            self.writer.close()
        return scores if scores is not None else self.validate()

    def _train_batch(self, indices: np.ndarray) -> Batch:
        """The training pairs at ``indices``, padded to the batches' length multiple."""
        return self.train_data.batch(indices).padded_to(self.tc.pad_to_multiple)

    def _train_group(self, group: list[np.ndarray]) -> list[Batch]:
        """One update's batches, made by the prefetch thread: in pinned memory on CUDA, so that the
        step's ``Batch.to`` copies them without the host waiting."""
        batches = [self._train_batch(indices) for indices in group]
        return [batch.pin_memory() for batch in batches] if self.device.type == "cuda" else batches

    def _log_padding(self) -> int:
        """The share of padding in this rank's first epoch, and what it would be without the rounding;
        returns the number of batch shapes."""
        lengths = self.train_data.src_lengths, self.train_data.tgt_lengths
        ranks = {"rank": self.ranks.rank, "world": self.ranks.world}
        exact = TokenBatches(*lengths, self.tc.batch_tokens, seed=self.cfg.seed, **ranks)
        shapes = {batch_shape(*lengths, b, self.tc.pad_to_multiple) for b in self.batches.batches()}
        log.info(
            "padding: %.1f%% of batch tokens with lengths padded to multiples of %d, %d batch shapes "
            "(%.1f%% padded to each batch's longest pair)",
            100 * pad_share(*lengths, self.batches.batches(), self.tc.pad_to_multiple),
            self.tc.pad_to_multiple,
            len(shapes),
            100 * pad_share(*lengths, exact.batches()),
        )
        return len(shapes)

    def train_step(self, batches: list[Batch]) -> bool:
        """One optimiser update over ``batches`` (``UpdateStep``); False: skipped for a non-finite loss."""
        loss, updated = self.update(batches, self.learning_rate())
        if not updated:
            self._skip(loss)
            return False
        self.progress.step += 1
        self.progress.bad_steps = 0
        tokens = sum(batch.num_tokens for batch in batches)
        self.window.add(loss, tokens, tokens + sum(int(b.src_mask.sum()) for b in batches))
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
            self._log_train(bar)
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
            if self.writer:
                self.writer.close()
            note = f"saved {self.run_dir / 'last.pt'} at step {p.step}; run the same command to resume"
            log.info("%s", note)
            self.signals.stop(note)
        self.clock = time.perf_counter()  # validating and saving is not training time
        patience_lost = tc.patience is not None and p.stale >= tc.patience
        return out_of_budget or patience_lost, scores

    def _tick(self) -> None:
        now = time.perf_counter()
        self.progress.train_seconds += now - self.clock
        self.window.seconds += now - self.clock
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

    # ------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self, periodic: bool = False) -> dict[str, float]:
        """Validation loss and greedy BLEU on rank 0; then every rank saves: last.pt, best.pt when BLEU
        improves, best_step_N.pt when among the ``trainer.keep_best`` best, step_N.pt if ``periodic``."""
        scores: dict[str, float] = {}
        p, improved = self.progress, False
        if self.ranks.is_main:
            self.model.eval()
            scores = {"loss": self.valid_loss()}
            scores["ppl"] = math.exp(min(scores["loss"], 50))
            count = self.tc.valid_bleu_sentences or len(self.valid_refs)
            with autocast(self.device, self.dtype):
                hyps = generate(self.model, self.valid_data.src[:count], DecodeConfig(beam=1, batch_size=64))
            hyp_text = self.tgt_vocab.decode([h[0].tokens for h in hyps])
            scores["bleu"] = sacrebleu.corpus_bleu(hyp_text, [self.valid_refs[:count]]).score
            improved = scores["bleu"] > p.best_bleu
            p.best_bleu, p.stale = max(p.best_bleu, scores["bleu"]), 0 if improved else p.stale + 1
            if self.tc.keep_best:  # ties keep the earlier checkpoint
                ranked = sorted(
                    [*p.best_k, [scores["bleu"], p.step]], key=lambda entry: (-entry[0], entry[1])
                )
                p.best_k = ranked[: self.tc.keep_best]
            for name, value in scores.items():
                self.writer.add_scalar(f"valid/{name}", value, p.step)
            self._log_attention()
            log.info(
                "validation at step %d: loss %.3f, ppl %.2f, BLEU %.2f%s",
                p.step,
                scores["loss"],
                scores["ppl"],
                scores["bleu"],
                " (best)" if improved else "",
            )
        p.stale = int(self.ranks.all_reduce_sum(p.stale if self.ranks.is_main else 0, self.device))
        self._save(best=improved, periodic=periodic)
        return scores

    def valid_loss(self) -> float:
        """Mean token negative log-likelihood (no label smoothing) over the whole validation set."""
        total = tokens = 0.0
        for indices in TokenBatches(
            [len(s) for s in self.valid_data.src],
            [len(t) for t in self.valid_data.tgt],
            self.tc.batch_tokens,
            shuffle=False,
            pad_to_multiple=self.tc.pad_to_multiple,
        ):
            batch = self.valid_data.batch(indices).padded_to(self.tc.pad_to_multiple).to(self.device)
            with autocast(self.device, self.dtype):
                logits, _ = self.model(batch.src, batch.src_mask, batch.tgt_in)
            total += F.cross_entropy(
                logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD, reduction="sum"
            ).item()
            tokens += batch.num_tokens
        return total / max(tokens, 1)

    def _record_shown(self) -> None:
        """Name the sentences TensorBoard shows (``nmt.training.showcase``) in train.log and TensorBoard."""
        if not self.writer or not self.shown:
            return
        own = "(its own translation)"
        rows = [(f"attention/{i}", s.source, s.target or own) for i, s in enumerate(self.shown)]
        for row in rows:
            log.info("%s: %s → %s", *row)
        table = ["| image | source | translation read |", "| --- | --- | --- |"]
        table += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        self.writer.add_text("attention/sentences", "\n".join(table), self.progress.step)

    def _log_attention(self) -> None:
        """Heatmaps of the sentences chosen for the run, to watch alignments form (with ``heatmap``)."""
        if self.heatmap is None or not self.shown:
            return
        with autocast(self.device, self.dtype):
            readings = shown_attention(self.model, self.src_vocab, self.tgt_vocab, self.shown)
        for i, (src_pieces, tgt_pieces, attention) in enumerate(readings):
            figure = self.heatmap(attention, src_pieces, tgt_pieces)
            self.writer.add_figure(f"attention/{i}", figure, self.progress.step)

    # ---------------------------------------------------------- checkpoints
    def _save(self, best: bool = False, periodic: bool = False) -> None:
        """Write last.pt (the full training state) and the snapshots due; every rank calls it (it gathers
        their RNG states), rank 0 writes. Snapshots first, last.pt last: a kill in between loses nothing."""
        rng = gather_rng_states(self.ranks)
        self.last_save = time.monotonic()
        if not self.ranks.is_main:
            return
        p, run_dir = self.progress, self.run_dir
        weights = snapshot(self.model, p, self.provenance)
        if best:
            save_checkpoint(run_dir / "best.pt", weights)
        if periodic and self.tc.keep_last:
            save_checkpoint(run_dir / f"step_{p.step}.pt", weights)
            prune_snapshots(run_dir, self.tc.keep_last)
        if self.tc.keep_best:
            kept = {int(step) for _, step in p.best_k}
            if p.step in kept and not (run_dir / f"best_step_{p.step}.pt").exists():
                bleu = next(score for score, step in p.best_k if step == p.step)  # this checkpoint's own
                save_checkpoint(run_dir / f"best_step_{p.step}.pt", {**weights, "bleu": bleu})
            for path in snapshots(run_dir, best=True):
                if int(SNAPSHOT_NAME.fullmatch(path.name)[2]) not in kept:
                    path.unlink()
        state = training_state(self.model, self.optimizer, self.scaler, p, rng, self.provenance)
        save_checkpoint(run_dir / "last.pt", state)

    # -------------------------------------------------------------- logging
    def _log_train(self, bar: tqdm) -> None:
        p, window = self.progress, self.window
        loss, tokens_per_second = window.loss / max(window.tokens, 1), window.all_tokens / window.seconds
        lr = self.optimizer.param_groups[0]["lr"]
        postfix = {"loss": f"{loss:.3f}", "tok/s": f"{tokens_per_second:,.0f}", "lr": f"{lr:.1e}"}
        if self.tc.max_minutes is not None:  # the time budget decides the ETA: re-estimate the total
            left = max(60 * self.tc.max_minutes - p.train_seconds, 0.0)
            bar.total = min(self.tc.max_steps, p.step + round(left * p.step / max(p.train_seconds, 1e-9)))
        bar.set_postfix(postfix)
        if self.writer:
            self._write_compilations()
            self.writer.add_scalar("train/loss", loss, p.step)
            self.writer.add_scalar("train/lr", lr, p.step)
            self.writer.add_scalar("train/tokens_per_second", tokens_per_second, p.step)
        step_log.info(
            "step %d epoch %d loss %.3f lr %.2e %.0f tok/s", p.step, p.epoch, loss, lr, tokens_per_second
        )
        self.window = Window()

    def _write_compilations(self) -> None:
        """The compilations so far and the seconds they took, in TensorBoard (compiled runs only)."""
        compiled = self.update.loss
        if compiled.compilations:
            self.writer.add_scalar("train/compilations", compiled.compilations, self.progress.step)
            self.writer.add_scalar("train/compile_seconds", compiled.compile_seconds, self.progress.step)

    def _log_compilations(self) -> None:
        """What compiling cost this process, in the log and in TensorBoard (compiled runs only)."""
        compiled = self.update.loss
        if compiled.compilations:
            log.info(
                "compiled the training step %d time(s) (%d graph(s)) in %.1f s",
                compiled.compilations,
                compiled.graphs,
                compiled.compile_seconds,
            )
            if self.writer:
                self._write_compilations()


@dataclass
class Window:
    """What the updates since the last training log line add up to."""

    loss: float = 0.0  # summed token loss
    tokens: int = 0  # target tokens
    all_tokens: int = 0  # source and target tokens
    seconds: float = 0.0

    def add(self, loss: float, tokens: int, all_tokens: int) -> None:
        self.loss, self.tokens, self.all_tokens = (
            self.loss + loss,
            self.tokens + tokens,
            self.all_tokens + all_tokens,
        )


@contextmanager
def _log_to_file(path: Path) -> Iterator[None]:
    """While the run trains, everything the ``nmt`` loggers say goes to ``path``; step lines go there
    and nowhere else. Detached at the end, so that in a multirun (every job in one process) the next
    job's data preparation does not land in this run's log."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in ("nmt", "nmt.steps")]
    for logger in loggers:
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    step_log.propagate = False
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        step_log.propagate = True
        handler.close()
