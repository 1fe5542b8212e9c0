"""What a training run reports as it goes: ``train.log`` (every ``nmt`` logger, and the step lines
nowhere else), TensorBoard (rank 0 only) and the progress bar's figures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from matplotlib.figure import Figure
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from nmt.config import TrainerConfig
from nmt.data.batching import TokenBatches, batch_shape, pad_share
from nmt.runtime import Distributed
from nmt.training.checkpoint import Progress
from nmt.training.compile import EagerLoss
from nmt.training.showcase import Shown

log = logging.getLogger("nmt.train")
step_log = logging.getLogger("nmt.steps")  # one line per log_every steps, into train.log only


class Heatmap(Protocol):
    """Draws a shown sentence's attention (T, S) between its target and source pieces (EOS included)
    for TensorBoard: ``nmt.alignment.plot.piece_heatmap``, which ``nmt train`` passes in."""

    def __call__(self, attention: torch.Tensor, src_pieces: list[str], tgt_pieces: list[str]) -> Figure: ...


Readings = list[tuple[list[str], list[str], torch.Tensor]]
"""Each shown sentence's source pieces, target pieces and attention (T, S): ``shown_attention``."""


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


class RunLog:
    """A run's TensorBoard events (None on ranks other than 0) and training log lines; ``heatmap``
    draws the shown sentences' attention (None: none is drawn)."""

    def __init__(self, run_dir: Path, is_main: bool, heatmap: Heatmap | None = None) -> None:
        self.writer = SummaryWriter(run_dir / "tensorboard") if is_main else None
        self.heatmap = heatmap
        self.window = Window()

    def updates(self, bar: tqdm, p: Progress, lr: float, tc: TrainerConfig, compiled: EagerLoss) -> None:
        """The updates of the window since the last line: in the bar, TensorBoard and the step lines."""
        window = self.window
        loss, tokens_per_second = window.loss / max(window.tokens, 1), window.all_tokens / window.seconds
        postfix = {"loss": f"{loss:.3f}", "tok/s": f"{tokens_per_second:,.0f}", "lr": f"{lr:.1e}"}
        if tc.max_minutes is not None:  # the time budget decides the ETA: re-estimate the total
            left = max(60 * tc.max_minutes - p.train_seconds, 0.0)
            bar.total = min(tc.max_steps, p.step + round(left * p.step / max(p.train_seconds, 1e-9)))
        bar.set_postfix(postfix)
        if self.writer:
            self._write_compilations(compiled, p.step)
            self.writer.add_scalar("train/loss", loss, p.step)
            self.writer.add_scalar("train/lr", lr, p.step)
            self.writer.add_scalar("train/tokens_per_second", tokens_per_second, p.step)
        step_log.info(
            "step %d epoch %d loss %.3f lr %.2e %.0f tok/s", p.step, p.epoch, loss, lr, tokens_per_second
        )
        self.window = Window()

    def validation(self, scores: dict[str, float], step: int, improved: bool) -> None:
        """A validation's scores (loss, ppl, bleu), in TensorBoard and the log (rank 0)."""
        for name, value in scores.items():
            self.writer.add_scalar(f"valid/{name}", value, step)
        log.info(
            "validation at step %d: loss %.3f, ppl %.2f, BLEU %.2f%s",
            step,
            scores["loss"],
            scores["ppl"],
            scores["bleu"],
            " (best)" if improved else "",
        )

    def shown_sentences(self, shown: Sequence[Shown], step: int) -> None:
        """Name the sentences TensorBoard shows (``nmt.training.showcase``) in train.log and TensorBoard."""
        if not self.writer or not shown:
            return
        own = "(its own translation)"
        rows = [(f"attention/{i}", s.source, s.target or own) for i, s in enumerate(shown)]
        for row in rows:
            log.info("%s: %s → %s", *row)
        table = ["| image | source | translation read |", "| --- | --- | --- |"]
        table += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        self.writer.add_text("attention/sentences", "\n".join(table), step)

    def attention(self, readings: Readings, step: int) -> None:
        """Heatmaps of the shown sentences' attention, to watch alignments form (with ``heatmap``)."""
        for i, (src_pieces, tgt_pieces, attention) in enumerate(readings):
            self.writer.add_figure(f"attention/{i}", self.heatmap(attention, src_pieces, tgt_pieces), step)

    def compilations(self, compiled: EagerLoss, step: int) -> None:
        """What compiling cost this process, in the log and in TensorBoard (compiled runs only)."""
        if compiled.compilations:
            log.info(
                "compiled the training step %d time(s) (%d graph(s)) in %.1f s",
                compiled.compilations,
                compiled.graphs,
                compiled.compile_seconds,
            )
            if self.writer:
                self._write_compilations(compiled, step)

    def _write_compilations(self, compiled: EagerLoss, step: int) -> None:
        """The compilations so far and the seconds they took, in TensorBoard (compiled runs only)."""
        if compiled.compilations:
            self.writer.add_scalar("train/compilations", compiled.compilations, step)
            self.writer.add_scalar("train/compile_seconds", compiled.compile_seconds, step)

    def close(self) -> None:
        if self.writer:
            self.writer.close()


def log_padding(
    lengths: tuple[np.ndarray, np.ndarray],
    batches: TokenBatches,
    tc: TrainerConfig,
    seed: int,
    ranks: Distributed,
) -> int:
    """The share of padding in this rank's first epoch of ``batches`` (source and target ``lengths``,
    (N,) each), and what it would be without the rounding; returns the number of batch shapes."""
    exact = TokenBatches(*lengths, tc.batch_tokens, seed=seed, rank=ranks.rank, world=ranks.world)
    order = batches.batches()
    shapes = {batch_shape(*lengths, b, tc.pad_to_multiple) for b in order}
    log.info(
        "padding: %.1f%% of batch tokens with lengths padded to multiples of %d, %d batch shapes "
        "(%.1f%% padded to each batch's longest pair)",
        100 * pad_share(*lengths, order, tc.pad_to_multiple),
        tc.pad_to_multiple,
        len(shapes),
        100 * pad_share(*lengths, exact.batches()),
    )
    return len(shapes)


@contextmanager
def log_to_file(path: Path) -> Iterator[None]:
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
