"""BLEU by source length: test sentences bucketed by their number of source words, sacreBLEU per bucket.

The default buckets suit Multi30k, whose sources are 4-32 words, mostly 7-17: on test_2016_flickr
they hold 174, 367, 255, 122 and 82 of the 1000 sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from sacrebleu.metrics import BLEU

from nmt.outputs import atomic_write

EDGES = (8, 11, 14, 17)  # inclusive upper bounds, in words, of every bucket but the last


@dataclass
class Bucket:
    """The test sentences whose source has ``low``..``high`` words (``high`` None: no upper bound)."""

    low: int
    high: int | None
    indices: list[int]

    @property
    def words(self) -> str:
        """The bucket's range of source lengths, e.g. "9-11" or "18+"."""
        return f"{self.low}+" if self.high is None else f"{self.low}-{self.high}"


def length_buckets(sources: Sequence[str], edges: Sequence[int] = EDGES) -> list[Bucket]:
    """The non-empty buckets of ``sources`` by whitespace word count, shortest first."""
    lows, highs = [1, *(e + 1 for e in edges)], [*edges, None]
    buckets = [Bucket(low, high, []) for low, high in zip(lows, highs, strict=True)]
    for i, source in enumerate(sources):
        words = len(source.split())
        next(b for b in buckets if b.high is None or words <= b.high).indices.append(i)
    return [b for b in buckets if b.indices]


def bleu_by_length(
    buckets: Sequence[Bucket], systems: Mapping[str, Sequence[str]], refs: Sequence[str]
) -> dict[str, list[float]]:
    """Corpus BLEU of each system's hypotheses on each bucket: {system: [BLEU per bucket]}."""
    bleu = BLEU()
    return {
        name: [
            bleu.corpus_score([hyps[i] for i in b.indices], [[refs[i] for i in b.indices]]).score
            for b in buckets
        ]
        for name, hyps in systems.items()
    }


def plot_bleu_by_length(buckets: Sequence[Bucket], scores: Mapping[str, Sequence[float]], path: Path) -> Path:
    """A PNG of BLEU (y) per length bucket (x, with its sentence count), one line per system."""
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_prop_cycle(color=colormaps["tab20"].colors)  # distinct colours for up to 20 lines
    for name, values in scores.items():
        ax.plot(range(len(buckets)), values, marker="o", label=name)
    ax.set_xticks(range(len(buckets)), labels=[f"{b.words} words\n(n={len(b.indices)})" for b in buckets])
    ax.set_xlabel("source length")
    ax.set_ylabel("BLEU")
    ax.set_ylim(bottom=0.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    with atomic_write(path, "wb") as file:
        fig.savefig(file, format="png", dpi=120)
    return path


def length_table(buckets: Sequence[Bucket], scores: Mapping[str, Sequence[float]]) -> list[dict[str, object]]:
    """One row per bucket: its source word range, sentence count and every system's BLEU (0.01)."""
    return [
        {
            "source words": b.words,
            "sentences": len(b.indices),
            **{name: round(values[k], 2) for name, values in scores.items()},
        }
        for k, b in enumerate(buckets)
    ]
