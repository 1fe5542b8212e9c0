"""Attention heatmaps as PNG or SVG files, and an HTML page listing them.

Figures are built with matplotlib's object API (``Figure`` rendered by the Agg/SVG canvases), never
through pyplot: no display is needed and no figure stays registered after ``heatmap`` returns.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

import numpy as np
from matplotlib.figure import Figure

from nmt.alignment.words import Matrix, as_array, words_from_pieces
from nmt.errors import NmtError
from nmt.outputs import atomic_write, write_text

FORMATS = {".png": "png", ".svg": "svg"}
MAX_ANNOTATED = 15  # weights are written in the cells when both sides have at most this many tokens
CMAP = "Blues"
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>body {{ font-family: sans-serif; max-width: 70em; margin: auto }} img {{ max-width: 100% }}
.source {{ color: #555 }} .translation {{ font-weight: bold }}</style>
</head>
<body>
<h1>{title}</h1>
{sections}
</body>
</html>
"""
_SECTION = """<section id="s{number}">
<h2>{number}</h2>
<p class="source">{source}</p>
<p class="translation">{translation}</p>
<img src="{image}" alt="attention of sentence {number}">
</section>"""


class IndexEntry(NamedTuple):
    """One sentence pair of the HTML index and its image file (as ``heatmap`` returns it)."""

    source: str
    translation: str
    image: str | Path


def heatmap_figure(
    matrix: Matrix,
    src_words: Sequence[str],
    tgt_words: Sequence[str],
    title: str | None = None,
    beside: Sequence[tuple[str, Matrix]] = (),
) -> Figure:
    """A figure of ``matrix`` (len(tgt_words), len(src_words)), and of every (title, matrix) of
    ``beside`` (same shape: another reading of the same sentence, e.g. saliency) to its right.

    Rows are target tokens (y axis, top to bottom), columns source tokens (x axis, labels on top,
    rotated). The colour scale is fixed to [0, 1] so that figures compare; weights are written in
    the cells of matrices up to MAX_ANNOTATED x MAX_ANNOTATED.
    """
    panels = [(title, as_array(matrix)), *((name, as_array(m)) for name, m in beside)]
    rows, cols = len(tgt_words), len(src_words)
    for _, weights in panels:
        if weights.shape != (rows, cols):
            raise ValueError(f"matrix {weights.shape} does not match {rows} target x {cols} source tokens")
    width = min(40.0, 2.5 + 0.45 * cols)
    fig = Figure(figsize=(width * len(panels), min(40.0, 2.0 + 0.4 * rows)), layout="constrained")
    for ax, (name, weights) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        image = ax.imshow(weights, cmap=CMAP, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.xaxis.tick_top()
        ax.set_xticks(range(cols), labels=src_words, rotation=60, ha="left", rotation_mode="anchor")
        ax.set_yticks(range(rows), labels=tgt_words)
        if rows <= MAX_ANNOTATED and cols <= MAX_ANNOTATED:
            for (t, s), weight in np.ndenumerate(weights):
                colour = "white" if weight > 0.6 else "black"
                ax.text(s, t, f"{weight:.2f}", ha="center", va="center", fontsize=8, color=colour)
        if name:
            ax.set_title(name)
    fig.colorbar(image, ax=fig.axes, fraction=0.05, pad=0.02)
    return fig


def piece_heatmap(attention: Matrix, src_pieces: list[str], tgt_pieces: list[str]) -> Figure:
    """The word-level heatmap of a subword attention map (T, S) between ``tgt_pieces`` and
    ``src_pieces`` (what the trainer draws into TensorBoard at every validation)."""
    table = words_from_pieces(attention, src_pieces, tgt_pieces)
    return heatmap_figure(table.matrix, table.src_words, table.tgt_words)


def image_format(path: Path) -> str:
    """png or svg, by ``path``'s suffix; another suffix is refused by name."""
    if path.suffix.lower() not in FORMATS:
        raise NmtError(f"{path}: cannot write a {path.suffix or 'suffix-less'} image; use .png or .svg")
    return FORMATS[path.suffix.lower()]


def heatmap(
    matrix: Matrix,
    src_words: Sequence[str],
    tgt_words: Sequence[str],
    path: str | Path,
    title: str | None = None,
    beside: Sequence[tuple[str, Matrix]] = (),
) -> Path:
    """Draw ``heatmap_figure(...)`` to ``path`` (.png or .svg) and return the path."""
    path = Path(path)
    image = image_format(path)
    with atomic_write(path, "wb") as file:
        heatmap_figure(matrix, src_words, tgt_words, title, beside).savefig(file, format=image, dpi=100)
    return path


def write_html_index(items: Iterable[IndexEntry], out_dir: str | Path, title: str = "Attention") -> Path:
    """Write ``out_dir/index.html``: every sentence pair (HTML-escaped) above its image; returns the path.

    Image paths are file paths (absolute, or relative to the working directory, like the ones
    ``heatmap`` returns); the page links them relative to ``out_dir``, so that a folder holding
    the page and its images can be moved or served as it is.
    """
    out_dir = Path(out_dir)
    sections = [
        _SECTION.format(
            number=number,
            source=html.escape(source),
            translation=html.escape(translation),
            image=html.escape(quote(Path(os.path.relpath(image, out_dir)).as_posix())),
        )
        for number, (source, translation, image) in enumerate(items, 1)
    ]
    path = out_dir / "index.html"
    write_text(path, _PAGE.format(title=html.escape(title), sections="\n".join(sections)))
    return path
