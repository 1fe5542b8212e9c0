"""Attention heatmaps as PNG or SVG files, and an HTML page listing them.

Figures are built with matplotlib's object API (``Figure`` rendered by the Agg/SVG canvases), never
through pyplot: no display is needed and no figure stays registered after ``heatmap`` returns. SVG
files keep their text as text (``svg.fonttype`` none), so titles and words can be searched and read.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from nmt.alignment.words import Matrix, as_array, display_words
from nmt.errors import NmtError
from nmt.outputs import atomic_write, write_text

if TYPE_CHECKING:
    from nmt.rundir import Run

FORMATS = {".png": "png", ".svg": "svg"}
MAX_ANNOTATED = 15  # weights are written in the cells when both sides have at most this many tokens
CMAP = "Blues"
LABEL_INCHES = 0.09  # room a character of a word on an axis takes (its word's length widens the figure)
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
<p class="model">model: {model}</p>
{files}
{sections}
</body>
</html>
"""
_SECTION = """<section id="s{number}">
<h2>{number}</h2>
<p class="source">{source}</p>
<p class="translation">{translation}</p>
<p><a href="{image}">{name}</a></p>
<a href="{image}"><img src="{image}" alt="attention of sentence {number}"></a>
</section>"""


class Caption(NamedTuple):
    """What a heatmap names: its model (the figure's title) and its axes (the sides' languages)."""

    model: str | None = None
    source: str = "source"
    target: str = "target"

    @classmethod
    def of_languages(cls, src_lang: str, tgt_lang: str, model: str | None = None) -> Caption:
        """The sides' languages on the axes ("source (en)"), ``model`` the title."""
        return cls(model, f"source ({src_lang})", f"target ({tgt_lang})")

    @classmethod
    def of_run(cls, run: Run) -> Caption:
        """The run's model, directory and checkpoint step; its languages on the axes."""
        name = run.cfg.model.name
        where = "" if run.dir.name == name else f" ({run.dir.name})"
        data = run.cfg.data
        return cls.of_languages(data.src_lang, data.tgt_lang, f"{name}{where}, step {run.step:,}")


PLAIN = Caption()
"""Axes labelled "source" and "target", no title."""


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
    caption: Caption = PLAIN,
) -> Figure:
    """A figure of ``matrix`` (len(tgt_words), len(src_words)), and of every (title, matrix) of
    ``beside`` (same shape: another reading of the same sentence, e.g. saliency) to its right.

    Rows are target tokens (y axis, top to bottom), columns source tokens (x axis, labels on top,
    rotated); the axes are labelled with ``caption``'s sides, and its model is the figure's title.
    The colour scale (the bar on the right) is fixed to [0, 1] so that figures compare; weights are
    written in the cells of matrices up to MAX_ANNOTATED x MAX_ANNOTATED.
    """
    panels = [(title, as_array(matrix)), *((name, as_array(m)) for name, m in beside)]
    rows, cols = len(tgt_words), len(src_words)
    for _, weights in panels:
        if weights.shape != (rows, cols):
            raise ValueError(f"matrix {weights.shape} does not match {rows} target x {cols} source tokens")
    longest = [max(map(len, words), default=0) for words in (src_words, tgt_words)]
    width = min(40.0, 3.0 + 0.45 * cols + LABEL_INCHES * longest[1])
    height = min(40.0, 2.8 + 0.4 * rows + LABEL_INCHES * longest[0])
    fig = Figure(figsize=(width * len(panels), height), layout="constrained")
    for ax, (name, weights) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        image = ax.imshow(weights, cmap=CMAP, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.xaxis.tick_top()
        ax.xaxis.set_label_position("top")
        ax.set_xticks(range(cols), labels=src_words, rotation=60, ha="left", rotation_mode="anchor")
        ax.set_yticks(range(rows), labels=tgt_words)
        ax.set_xlabel(caption.source)
        ax.set_ylabel(caption.target)
        if rows <= MAX_ANNOTATED and cols <= MAX_ANNOTATED:
            for (t, s), weight in np.ndenumerate(weights):
                colour = "white" if weight > 0.6 else "black"
                ax.text(s, t, f"{weight:.2f}", ha="center", va="center", fontsize=8, color=colour)
        if name:
            ax.set_title(name)
    fig.colorbar(image, ax=fig.axes, fraction=0.05, pad=0.02, label="weight")
    if caption.model:
        fig.suptitle(caption.model)
    return fig


def piece_heatmap(
    attention: Matrix, src_pieces: list[str], tgt_pieces: list[str], caption: Caption = PLAIN
) -> Figure:
    """The heatmap of a subword attention map (T, S) between ``tgt_pieces`` and ``src_pieces``, in
    words as ``nmt align`` shows them (``display_words``: clitics and punctuation apart); what the
    trainer draws into TensorBoard at every validation."""
    table = display_words(attention, src_pieces, tgt_pieces)
    return heatmap_figure(table.matrix, table.src_words, table.tgt_words, caption=caption)


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
    caption: Caption = PLAIN,
) -> Path:
    """Draw ``heatmap_figure(...)`` to ``path`` (.png or .svg) and return the path."""
    path = Path(path)
    image = image_format(path)
    figure = heatmap_figure(matrix, src_words, tgt_words, title, beside, caption)
    with atomic_write(path, "wb") as file, matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(file, format=image, dpi=100)
    return path


def write_html_index(
    items: Iterable[IndexEntry],
    out_dir: str | Path,
    model: str,
    files: Sequence[str | Path] = (),
) -> Path:
    """Write ``out_dir/index.html``: the ``model`` it shows, links to ``files`` (the data files
    beside the images), then every sentence pair (HTML-escaped) above a link to its image and the
    image itself; returns the path.

    Paths are file paths (absolute, or relative to the working directory, like the ones ``heatmap``
    returns); the page links them relative to ``out_dir``, so that a folder holding the page and
    its files can be moved or served as it is.
    """
    out_dir = Path(out_dir)
    links = [f'<li><a href="{_href(f, out_dir)}">{html.escape(Path(f).name)}</a></li>' for f in files]
    sections = [
        _SECTION.format(
            number=number,
            source=html.escape(source),
            translation=html.escape(translation),
            image=_href(image, out_dir),
            name=html.escape(Path(image).name),
        )
        for number, (source, translation, image) in enumerate(items, 1)
    ]
    page = _PAGE.format(
        title=html.escape(f"Attention: {model}"),
        model=html.escape(model),
        files=f'<ul class="files">\n{chr(10).join(links)}\n</ul>' if links else "",
        sections="\n".join(sections),
    )
    path = out_dir / "index.html"
    write_text(path, page)
    return path


def _href(path: str | Path, out_dir: Path) -> str:
    """``path`` relative to ``out_dir``, URL-quoted and HTML-escaped for an attribute."""
    return html.escape(quote(Path(os.path.relpath(path, out_dir)).as_posix()))
