"""The training loop: Adam, clipping, label smoothing, validation BLEU, checkpoints, TensorBoard.

``train(cfg)`` is everything ``nmt train`` does after Hydra has composed the config. It runs alike
on one CPU, one GPU, or many GPUs under ``torchrun`` (DistributedDataParallel, one shard of the
batches per rank, rank 0 validating, logging and saving).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import sacrebleu
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from nmt.alignment.plot import heatmap_figure
from nmt.alignment.words import words_from_pieces
from nmt.data.batching import Batch, TokenBatches
from nmt.data.pipeline import EncodedPairs, Pairs, load_pairs
from nmt.data.vocab import EOS_PIECE, PAD, Vocab, load_or_train_vocabs
from nmt.decoding import DecodeConfig, Hypothesis, generate
from nmt.models import EncoderDecoder, build_model
from nmt.rundir import save_checkpoint
from nmt.runtime import (
    Distributed,
    autocast,
    autocast_dtype,
    init_distributed,
    resolve_device,
    seed_everything,
)
from nmt.training.schedule import lr_multiplier

log = logging.getLogger("nmt.train")
step_log = logging.getLogger("nmt.steps")  # one line per log_every steps, into train.log only


def train(cfg: DictConfig) -> dict[str, float]:
    """Train the model ``cfg`` describes into ``cfg.run_dir``; returns the last validation scores."""
    run_dir = Path(cfg.run_dir)
    device = resolve_device(cfg.trainer.device)
    ranks = init_distributed(device)
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    seed_everything(cfg.seed)
    if ranks.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
        _log_to_file(run_dir / "train.log")
    log.info("run directory %s, device %s, %d process(es)", run_dir, device, ranks.world)

    train_pairs, valid_pairs = load_pairs(cfg, "train"), load_pairs(cfg, "valid")
    log.info("%d training pairs, %d validation pairs", len(train_pairs), len(valid_pairs))
    if ranks.is_main:
        load_or_train_vocabs(run_dir, cfg.data.spm, train_pairs, cfg.seed)
    ranks.barrier()
    src_vocab, tgt_vocab = load_or_train_vocabs(run_dir, cfg.data.spm, train_pairs)
    model = build_model(cfg.model, len(src_vocab), len(tgt_vocab), PAD).to(device)
    log.info(
        "%s: %s parameters, vocabularies %d/%d",
        cfg.model.name,
        f"{model.num_parameters():,}",
        len(src_vocab),
        len(tgt_vocab),
    )
    trainer = Trainer(cfg, model, src_vocab, tgt_vocab, train_pairs, valid_pairs, device, ranks)
    with logging_redirect_tqdm():
        return trainer.fit()


class Trainer:
    """One training run: owns the model, optimiser, batches and the run directory's outputs."""

    def __init__(
        self,
        cfg: DictConfig,
        model: EncoderDecoder,
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        train_pairs: Pairs,
        valid_pairs: Pairs,
        device: torch.device,
        ranks: Distributed,
    ) -> None:
        self.cfg, self.tc, self.device, self.ranks = cfg, cfg.trainer, device, ranks
        self.run_dir = Path(cfg.run_dir)
        self.model, self.src_vocab, self.tgt_vocab = model, src_vocab, tgt_vocab
        self.train_data = EncodedPairs.encode(train_pairs, src_vocab, tgt_vocab)
        self.valid_data = EncodedPairs.encode(valid_pairs, src_vocab, tgt_vocab)
        self.valid_refs = [tgt for _, tgt in valid_pairs]
        self.batches = TokenBatches(
            [len(s) for s in self.train_data.src],
            [len(t) for t in self.train_data.tgt],
            self.tc.batch_tokens,
            seed=cfg.seed,
            rank=ranks.rank,
            world=ranks.world,
        )
        self.dtype = autocast_dtype(self.tc.precision, device, model.prefers_bf16_on_cpu)
        self.ddp = DistributedDataParallel(model) if ranks.world > 1 else model
        self.optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=self.tc.lr,
            betas=tuple(self.tc.optimizer_betas),
            weight_decay=self.tc.weight_decay,
        )
        self.lr_multiplier = lr_multiplier(self.tc)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)
        self.writer = SummaryWriter(self.run_dir / "tensorboard") if ranks.is_main else None
        self.step, self.epoch, self.best_bleu, self.stale = 0, 0, -1.0, 0
        self.train_seconds = 0.0  # training time before the current logging window
        self.window_start = time.perf_counter()  # the current logging window began
        self._resume()

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict[str, float]:
        tc, scores = self.tc, None  # None until a validation has run (other ranks get {})
        bar = tqdm(
            total=tc.max_steps,
            initial=self.step,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            disable=not self.ranks.is_main,
        )
        window_loss = window_tokens = window_all_tokens = 0.0
        while not self._done():
            self.batches.set_epoch(self.epoch)
            for indices in self.batches:
                batch = self.train_data.batch(indices).to(self.device)
                loss = self.train_step(batch)
                tokens = batch.num_tokens
                window_loss, window_tokens = window_loss + loss, window_tokens + tokens
                window_all_tokens += tokens + int(batch.src_mask.sum())
                bar.update()
                if self.step % tc.log_every == 0:
                    elapsed = time.perf_counter() - self.window_start
                    self.train_seconds += elapsed
                    self._log_train(bar, window_loss / window_tokens, window_all_tokens / elapsed)
                    window_loss = window_tokens = window_all_tokens = 0.0
                    self.window_start = time.perf_counter()
                done = self._done()
                if self.step % tc.valid_every == 0 or done:
                    self.train_seconds += time.perf_counter() - self.window_start
                    scores = self.validate()
                    self.window_start = time.perf_counter()
                    done = self._done()  # validation may have run out of patience
                if done:
                    break
            self.epoch += 1
        bar.close()
        if self.writer:
            self.writer.close()
        return scores if scores is not None else self.validate()

    def train_step(self, batch: Batch) -> float:
        """One optimiser step on ``batch``; returns the summed (label-smoothed) token loss."""
        self.model.train()
        with autocast(self.device, self.dtype):
            logits, _ = self.ddp(batch.src, batch.src_mask, batch.tgt_in)
        loss = F.cross_entropy(
            logits.float().flatten(0, 1),
            batch.tgt_out.flatten(),
            ignore_index=PAD,
            label_smoothing=self.tc.label_smoothing,
            reduction="sum",
        )
        self.optimizer.zero_grad(set_to_none=True)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        self.scaler.scale(loss / max(batch.num_tokens, 1)).backward()
        self.scaler.unscale_(self.optimizer)
        if self.tc.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return loss.item()

    def learning_rate(self) -> float:
        """``trainer.lr`` times the schedule's multiplier at this step and this far into the budget."""
        return self.tc.lr * self.lr_multiplier(self.step, self.budget_spent())

    def budget_spent(self) -> float:
        """The fraction of the budget used so far: steps or minutes, whichever is further along."""
        spent = self.step / self.tc.max_steps
        if self.tc.max_minutes is not None:
            seconds = self.train_seconds + time.perf_counter() - self.window_start
            spent = max(spent, seconds / (60 * self.tc.max_minutes))
        return spent

    def _done(self) -> bool:
        """Out of steps or time (checked after every step), or out of patience; every rank agrees."""
        patience_lost = self.tc.patience is not None and self.stale >= self.tc.patience
        done = self.budget_spent() >= 1 or patience_lost
        return self.ranks.all_reduce_sum(float(done), self.device) > 0

    # ------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss and greedy BLEU on rank 0; saves last.pt and, when BLEU improves, best.pt."""
        scores: dict[str, float] = {}
        if self.ranks.is_main:
            self.model.eval()
            scores = {"loss": self.valid_loss()}
            scores["ppl"] = math.exp(min(scores["loss"], 50))
            count = self.tc.valid_bleu_sentences or len(self.valid_refs)
            with autocast(self.device, self.dtype):
                hyps = generate(self.model, self.valid_data.src[:count], DecodeConfig(beam=1, batch_size=64))
            hyp_text = self.tgt_vocab.decode([h[0].tokens for h in hyps])
            scores["bleu"] = sacrebleu.corpus_bleu(hyp_text, [self.valid_refs[:count]]).score
            improved = scores["bleu"] > self.best_bleu
            self.best_bleu, self.stale = (
                max(self.best_bleu, scores["bleu"]),
                0 if improved else self.stale + 1,
            )
            for name, value in scores.items():
                self.writer.add_scalar(f"valid/{name}", value, self.step)
            self._log_attention(hyps[: self.tc.attention_images])
            log.info(
                "validation at step %d: loss %.3f, ppl %.2f, BLEU %.2f%s",
                self.step,
                scores["loss"],
                scores["ppl"],
                scores["bleu"],
                " (best)" if improved else "",
            )
            self._save(improved)
        self.stale = int(self.ranks.all_reduce_sum(self.stale if self.ranks.is_main else 0, self.device))
        return scores

    def valid_loss(self) -> float:
        """Mean token negative log-likelihood (no label smoothing) over the whole validation set."""
        total = tokens = 0.0
        for indices in TokenBatches(
            [len(s) for s in self.valid_data.src],
            [len(t) for t in self.valid_data.tgt],
            self.tc.batch_tokens,
            shuffle=False,
        ):
            batch = self.valid_data.batch(indices).to(self.device)
            with autocast(self.device, self.dtype):
                logits, _ = self.model(batch.src, batch.src_mask, batch.tgt_in)
            total += F.cross_entropy(
                logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD, reduction="sum"
            ).item()
            tokens += batch.num_tokens
        return total / max(tokens, 1)

    def _log_attention(self, hyps: list[list[Hypothesis]]) -> None:
        """Word-level heatmaps of the first validation sentences, to watch alignments form."""
        for i, (nbest, src) in enumerate(zip(hyps, self.valid_data.src, strict=False)):
            src_pieces = [*self.src_vocab.pieces(src), EOS_PIECE]
            tgt_pieces = [*self.tgt_vocab.pieces(nbest[0].tokens), EOS_PIECE]
            table = words_from_pieces(nbest[0].attention, src_pieces, tgt_pieces)
            figure = heatmap_figure(table.matrix, table.src_words, table.tgt_words)
            self.writer.add_figure(f"attention/{i}", figure, self.step)

    # ---------------------------------------------------------- checkpoints
    def _save(self, best: bool) -> None:
        payload: dict[str, Any] = {
            "model": self.model.state_dict(),
            "step": self.step,
            "bleu": self.best_bleu,
        }
        if best:
            save_checkpoint(self.run_dir / "best.pt", payload)
        save_checkpoint(
            self.run_dir / "last.pt",
            {
                **payload,
                "epoch": self.epoch,
                "stale": self.stale,
                "train_seconds": self.train_seconds,
                "optimizer": self.optimizer.state_dict(),
            },
        )

    def _resume(self) -> None:
        path = self.run_dir / "last.pt"
        if not (self.tc.resume and path.is_file()):
            return
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch, self.best_bleu = state["step"], state["epoch"] + 1, state["bleu"]
        self.stale, self.train_seconds = state["stale"], state["train_seconds"]
        log.info("resumed from %s at step %d (best BLEU %.2f)", path, self.step, self.best_bleu)

    # -------------------------------------------------------------- logging
    def _log_train(self, bar: tqdm, loss: float, tokens_per_second: float) -> None:
        lr = self.optimizer.param_groups[0]["lr"]
        postfix = {"loss": f"{loss:.3f}", "tok/s": f"{tokens_per_second:,.0f}", "lr": f"{lr:.1e}"}
        if self.tc.max_minutes is not None:  # the time budget decides the ETA: re-estimate the total
            left = max(60 * self.tc.max_minutes - self.train_seconds, 0.0)
            bar.total = min(
                self.tc.max_steps, self.step + round(left * self.step / max(self.train_seconds, 1e-9))
            )
        bar.set_postfix(postfix)
        if self.writer:
            self.writer.add_scalar("train/loss", loss, self.step)
            self.writer.add_scalar("train/lr", lr, self.step)
            self.writer.add_scalar("train/tokens_per_second", tokens_per_second, self.step)
        step_log.info(
            "step %d epoch %d loss %.3f lr %.2e %.0f tok/s",
            self.step,
            self.epoch,
            loss,
            lr,
            tokens_per_second,
        )


def _log_to_file(path: Path) -> None:
    """Everything the ``nmt`` loggers say goes to ``path`` (and no longer to an earlier run's log, as
    in a multirun, where every job trains in one process); step lines go there and nowhere else."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(name)s: %(message)s"))
    for name in ("nmt", "nmt.steps"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(old)
            old.close()
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    step_log.propagate = False
