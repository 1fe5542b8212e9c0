"""What ``nmt align`` does, for Python too: translate sentences (or take given translations), read
each one's alignment again under teacher forcing (the model's own attention map, or SmoothGrad
saliency), and show it as word tables, heatmaps, JSON/NPZ dumps and an HTML index.

    aligned = align_sentences(Translator.from_run("runs/x"), ["I love you."], DecodeConfig())
    print(aligned[0].tables["attention"].text())
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nmt.alignment.dump import record, write_jsonl, write_npz
from nmt.alignment.plot import PLAIN, Caption, IndexEntry, heatmap, write_html_index
from nmt.alignment.reread import read_again
from nmt.alignment.words import WordAlignment, word_alignment
from nmt.data.clean import normalize
from nmt.decoding import DecodeConfig
from nmt.errors import NmtError

if TYPE_CHECKING:
    from nmt.models import EncoderDecoder
    from nmt.translate import Translation, Translator


@dataclass(frozen=True)
class WordView:
    """How a matrix is shown: sentencepiece pieces (``subwords``) or words, elided clitics split
    (t' aime), trailing punctuation detached (aime .)."""

    subwords: bool = False
    clitics: bool = True
    punctuation: bool = True

    def table(self, translation: Translation) -> WordAlignment:
        """The translation's attention as a table of pieces or words."""
        if self.subwords:
            return WordAlignment(
                translation.src_tokens, translation.tgt_tokens, translation.attention.numpy()
            )
        return word_alignment(translation, clitics=self.clitics, punctuation=self.punctuation)


@dataclass
class Aligned:
    """One sentence pair under each reading asked for: the translation carrying that reading as its
    attention (T+1, S+1), and its table."""

    readings: dict[str, Translation]
    tables: dict[str, WordAlignment]

    @property
    def translation(self) -> Translation:
        """The sentence pair (source, translation text and tokens): the first reading's."""
        return next(iter(self.readings.values()))


def align_sentences(
    translator: Translator,
    lines: Sequence[str],
    config: DecodeConfig,
    *,
    targets: Sequence[str] | None = None,
    readings: Sequence[str] = ("attention",),
    view: WordView = WordView(),
) -> list[Aligned]:
    """Every line translated by ``translator`` (or paired with its given ``targets``), read again
    with each of ``readings`` (keys of ``nmt.alignment.reread.READINGS``) and shown as ``view`` says."""
    if targets is None:
        best = [n[0] for n in translator.translate(lines, config, progress=True)]
    else:
        best = translator.score(lines, targets, batch_size=config.batch_size, progress=True)
    shown = {name: read_again(translator.run, best, name) for name in readings}
    return [
        Aligned(
            readings={name: shown[name][i] for name in readings},
            tables={name: view.table(shown[name][i]) for name in readings},
        )
        for i in range(len(best))
    ]


def refuse_blank(lines: Sequence[str], where: str) -> None:
    """An ``NmtError`` naming the first line with no words (``where`` + its number): nothing to align."""
    blank = next((number for number, line in enumerate(lines, 1) if not normalize(line)), None)
    if blank is not None:
        raise NmtError(f"{where}{blank} is empty: there is nothing to align")


def check_targets(lines: Sequence[str], targets: Sequence[str], where: str) -> None:
    """An ``NmtError`` naming ``where`` (the file or option of ``targets``) unless there is one
    translation per line and no pair is empty on either side."""
    if len(targets) != len(lines):
        raise NmtError(
            f"{where}: one translation per sentence: {len(lines)} sentence(s), {len(targets)} given"
        )
    for number, (source, target) in enumerate(zip(lines, targets, strict=True), 1):
        if not source.strip() or not target.strip():
            raise NmtError(f"{where}: pair {number} is empty on one side; there is nothing to align")


def select_attention(model: EncoderDecoder, layer: int | None, head: int | None) -> None:
    """Point the model's alignment at one decoder layer / head (a model with one map has no other)."""
    if layer is None and head is None:
        return
    current_layer, current_head = model.alignment_map
    try:
        model.select_alignment(
            current_layer if layer is None else layer, current_head if head is None else head
        )
    except ValueError as e:
        raise NmtError(f"--layer/--head: {e}") from None


def draw(aligned: Aligned, path: Path, caption: Caption = PLAIN) -> Path:
    """A heatmap of the first reading's table, the others beside it, titled by reading; ``caption``
    names the model and the axes."""
    (first_name, first), *rest = aligned.tables.items()
    title = first_name if rest else None
    beside = [(n, t.matrix) for n, t in rest]
    return heatmap(first.matrix, first.src_words, first.tgt_words, path, title, beside, caption)


def write_folder(
    aligned: Sequence[Aligned], out_dir: Path, image: str, view: WordView, caption: Caption
) -> Path:
    """Into ``out_dir``: one heatmap per sentence (0001.png ...), for every reading its records as
    JSON lines and NPZ (alignments.* for attention, saliency.*), and index.html (returned), which
    names ``caption``'s model and links the dumps."""
    images = [draw(a, out_dir / f"{i:04d}.{image}", caption) for i, a in enumerate(aligned, 1)]
    dumps = []
    for name in aligned[0].readings:
        records = [
            record(a.readings[name], clitics=view.clitics, punctuation=view.punctuation) for a in aligned
        ]
        stem = out_dir / ("alignments" if name == "attention" else name)
        dumps += [stem.with_suffix(".jsonl"), stem.with_suffix(".npz")]
        write_jsonl(records, dumps[-2])
        write_npz(records, dumps[-1])
    entries = [
        IndexEntry(a.translation.source, a.translation.text, path)
        for a, path in zip(aligned, images, strict=True)
    ]
    return write_html_index(entries, out_dir, caption.model or "", dumps)
