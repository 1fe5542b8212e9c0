"""Subword attention -> word attention, and the display refinements of the textbook tables.

Sentencepiece marks the first piece of every whitespace-separated word with "▁" (U+2581), so the
pieces of a sentence group back into its words. ``merge`` turns a piece matrix (T, S) into a word
matrix (T_words, S_words) that is still a distribution over the source in every row:

* source side (columns): a word's weight is the SUM over its pieces (the attention mass that lands
  anywhere on the word);
* target side (rows): a word's row is the AVERAGE of its pieces' rows (each piece is one decoding
  step; the average of distributions is a distribution).

``split_clitics`` and ``detach_punctuation`` then refine the words for display ("t'aime." ->
"t'", "aime", "."; both by default, ``display_words``). A word split into k parts gives every part
a copy of its row on the target side, and 1/k of its column on the source side, so rows still sum
to 1.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from nmt.data.vocab import EOS_PIECE
from nmt.translate import Translation

WORD_START = "▁"
CLITICS = ("qu", "c", "d", "j", "l", "m", "n", "s", "t")
"""Elided French/Italian clitics, written before an apostrophe (' or ’) at the start of a word."""
APOSTROPHES = "'’"
_CLITIC = re.compile(rf"(?:{'|'.join(CLITICS)})[{APOSTROPHES}](?=.)", re.IGNORECASE)

Side = Literal["src", "tgt"]
Groups = Sequence[Sequence[int]]
Matrix = np.ndarray | torch.Tensor


@dataclass
class WordAlignment:
    """Attention between the words of a sentence pair: ``matrix`` (len(tgt_words), len(src_words))."""

    src_words: list[str]
    tgt_words: list[str]
    matrix: np.ndarray  # float64, every row sums to 1 (or is all zeros, see ``words_from_pieces``)

    def strongest_sources(self) -> list[tuple[str, str, float]]:
        """(target word, its row's maximum source word, that weight) for every target word, in order:
        the textbook's reading of a matrix ("je→I .94, t'→you .88, aime→love .95")."""
        if not self.src_words:  # nothing to point at (an empty source)
            return []
        best = self.matrix.argmax(1)
        return [
            (word, self.src_words[j], float(row[j]))
            for word, row, j in zip(self.tgt_words, self.matrix, best, strict=True)
        ]

    def text(self) -> str:
        """The table as text: one row per target word, one column per source word, then each target
        word's strongest source word."""
        width = max(6, *(len(w) + 1 for w in self.src_words))
        first = max(len(w) for w in self.tgt_words) + 2 if self.tgt_words else 2
        lines = [" " * first + "".join(w.rjust(width) for w in self.src_words)]
        for word, row in zip(self.tgt_words, self.matrix, strict=True):
            lines.append(word.ljust(first) + "".join(f"{w:.2f}".rjust(width) for w in row))
        strongest = ", ".join(f"{t}→{s} {w:.2f}" for t, s, w in self.strongest_sources())
        return "\n".join([*lines, f"strongest: {strongest}"])


def as_array(matrix: Matrix) -> np.ndarray:
    """A float64 numpy copy of a numpy array or a tensor (any device or dtype), same shape."""
    if isinstance(matrix, torch.Tensor):
        return matrix.detach().to("cpu", torch.float64).numpy()
    return np.array(matrix, dtype=np.float64)


def group_pieces(pieces: Sequence[str]) -> list[list[int]]:
    """The indices of the pieces that form each word, in order; the groups partition range(len(pieces)).

    A piece starting with "▁" starts a word, other pieces continue the current one. "</s>" is a
    group of its own. A lone "▁" (sentencepiece writes one before a word whose first character has
    no "▁x" piece, e.g. an unknown character) joins the following piece's word.
    """
    groups: list[list[int]] = []
    can_continue = lone_space = False
    for i, piece in enumerate(pieces):
        if piece == EOS_PIECE:
            groups.append([i])
            can_continue = lone_space = False
        elif lone_space or (can_continue and not piece.startswith(WORD_START)):
            groups[-1].append(i)
            lone_space = False
        else:
            groups.append([i])
            can_continue, lone_space = True, piece == WORD_START
    return groups


def word_strings(pieces: Sequence[str], groups: Groups) -> list[str]:
    """The text of each group of pieces, without the "▁" markers."""
    return ["".join(pieces[i] for i in group).replace(WORD_START, " ").strip() for group in groups]


def merge(attention: Matrix, src_groups: Groups, tgt_groups: Groups) -> np.ndarray:
    """Piece attention (T, S) -> word attention (len(tgt_groups), len(src_groups)), float64.

    Columns of a source word are summed, rows of a target word are averaged (see the module
    docstring), so rows that summed to 1 still do. Each side's groups must partition its indices.
    """
    matrix = as_array(attention)
    tgt, src = _membership(tgt_groups, matrix.shape[0]), _membership(src_groups, matrix.shape[1])
    return (tgt / tgt.sum(1, keepdims=True)) @ matrix @ src.T


def _membership(groups: Groups, size: int) -> np.ndarray:
    """(len(groups), size): 1 where index i is in group g; checks that the groups partition range(size)."""
    if not all(groups) or sorted(i for group in groups for i in group) != list(range(size)):
        raise ValueError(f"the groups {[list(g) for g in groups]} do not partition range({size})")
    member = np.zeros((len(groups), size))
    for g, group in enumerate(groups):
        member[g, list(group)] = 1.0
    return member


def refine_groups(
    pieces: Sequence[str], groups: Groups, parts: Callable[[str], list[str]]
) -> list[list[int]]:
    """Split each group into the ``parts`` of its word wherever a part ends on a piece boundary.

    ["▁t", "'", "aime"] with ``clitic_parts`` becomes ["▁t", "'"] and ["aime"]: each display word
    keeps its own pieces' weights. A part boundary inside a piece leaves the group whole there.
    """
    refined: list[list[int]] = []
    for group in groups:
        ends = np.cumsum(
            [len(pieces[i].replace(WORD_START, "")) for i in group]
        )  # text offset after each piece
        start = 0
        for cut in np.cumsum([len(part) for part in parts(word_strings(pieces, [group])[0])])[:-1]:
            last = int(np.searchsorted(ends, cut))  # the first piece that ends at or after the cut
            if last < len(ends) and ends[last] == cut:
                refined.append(list(group[start : last + 1]))
                start = last + 1
        refined.append(list(group[start:]))
    return refined


def words_from_pieces(
    attention: Matrix,
    src_pieces: Sequence[str],
    tgt_pieces: Sequence[str],
    src_groups: Groups | None = None,
    tgt_groups: Groups | None = None,
) -> WordAlignment:
    """Word attention from piece attention (len(tgt_pieces), len(src_pieces)), without "</s>".

    The pieces are grouped into words (``group_pieces`` unless groups are given) and merged; then
    the "</s>" row (the step that ends the sentence, not a word) and the "</s>" column are dropped,
    and every row is divided by its remaining sum: a word's row is the share of its attention that
    went to source words. A row whose whole mass was on "</s>" stays all zeros.
    """
    src_groups = group_pieces(src_pieces) if src_groups is None else src_groups
    tgt_groups = group_pieces(tgt_pieces) if tgt_groups is None else tgt_groups
    matrix = merge(attention, src_groups, tgt_groups)
    src_keep = [g for g, group in enumerate(src_groups) if src_pieces[group[0]] != EOS_PIECE]
    tgt_keep = [g for g, group in enumerate(tgt_groups) if tgt_pieces[group[0]] != EOS_PIECE]
    matrix = matrix[np.ix_(tgt_keep, src_keep)]
    totals = matrix.sum(1, keepdims=True)
    matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    src_words = word_strings(src_pieces, [src_groups[g] for g in src_keep])
    tgt_words = word_strings(tgt_pieces, [tgt_groups[g] for g in tgt_keep])
    return WordAlignment(src_words, tgt_words, matrix)


def clitic_parts(word: str) -> list[str]:
    """A word split after its leading elided clitics: "t'aime" -> ["t'", "aime"], "J'" -> ["J'"].

    A clitic (``CLITICS``, any case, then ' or ’) is split off only when something follows it.
    """
    parts = []
    while match := _CLITIC.match(word):
        parts.append(match.group())
        word = word[match.end() :]
    return [*parts, word]


def punctuation_parts(word: str) -> list[str]:
    """A word split before its trailing punctuation run: "aime." -> ["aime", "."], "?!" -> ["?!"].

    Punctuation is any Unicode P* character except apostrophes, so "l'" stays whole.
    """
    end = len(word)
    while end > 0 and _is_punctuation(word[end - 1]):
        end -= 1
    return [word] if end in (0, len(word)) else [word[:end], word[end:]]


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P") and char not in APOSTROPHES


def split_clitics(words: Sequence[str], matrix: np.ndarray, side: Side) -> tuple[list[str], np.ndarray]:
    """``clitic_parts`` applied to the words of one side of ``matrix`` (T_words, S_words); see _split.

    side "src" splits the words of the columns, "tgt" the words of the rows.
    """
    return _split(words, matrix, side, clitic_parts)


def detach_punctuation(words: Sequence[str], matrix: np.ndarray, side: Side) -> tuple[list[str], np.ndarray]:
    """``punctuation_parts`` applied to the words of one side of ``matrix`` (T_words, S_words); see _split.

    Sentencepiece keeps punctuation in the word; this detaches it for display.
    """
    return _split(words, matrix, side, punctuation_parts)


def _split(
    words: Sequence[str], matrix: np.ndarray, side: Side, parts: Callable[[str], list[str]]
) -> tuple[list[str], np.ndarray]:
    """Every word replaced by ``parts(word)``: the new words and the new matrix.

    side "tgt" (rows): each part gets a copy of the word's row. side "src" (columns): each of
    the k parts gets 1/k of the word's column. Either way every row keeps its sum.
    """
    split = [parts(word) for word in words]
    counts = np.array([len(p) for p in split], dtype=int)
    new_words = [part for p in split for part in p]
    if side == "tgt":
        return new_words, np.repeat(matrix, counts, axis=0)
    return new_words, np.repeat(matrix / counts, counts, axis=1)


def word_alignment(
    translation: Translation, *, clitics: bool = True, punctuation: bool = True
) -> WordAlignment:
    """The word-level table of a ``Translation``: ``display_words`` of its pieces and attention."""
    return display_words(
        translation.attention,
        translation.src_tokens,
        translation.tgt_tokens,
        clitics=clitics,
        punctuation=punctuation,
    )


def display_words(
    attention: Matrix,
    src_pieces: Sequence[str],
    tgt_pieces: Sequence[str],
    *,
    clitics: bool = True,
    punctuation: bool = True,
) -> WordAlignment:
    """The word-level table of piece attention (len(tgt_pieces), len(src_pieces)), pieces with "</s>":
    words on both sides, no "</s>", rows summing to 1.

    See ``words_from_pieces``, then, on both sides, clitics: split elided clitics off their words
    ("t'aime" -> "t'", "aime"); punctuation: detach trailing punctuation ("aime." -> "aime", "."),
    on by default, as ``nmt align``, ``make demo`` and the explorer show words (sentencepiece keeps
    it in the word). Clitics are split first. Splits that fall between pieces regroup the pieces
    (``refine_groups``); the rest share the word's weights (``split_clitics``, ``detach_punctuation``).
    """
    wanted = [
        (parts, split)
        for parts, split, on in (
            (clitic_parts, split_clitics, clitics),
            (punctuation_parts, detach_punctuation, punctuation),
        )
        if on
    ]
    src_groups, tgt_groups = group_pieces(src_pieces), group_pieces(tgt_pieces)
    for parts, _ in wanted:
        src_groups, tgt_groups = (
            refine_groups(src_pieces, src_groups, parts),
            refine_groups(tgt_pieces, tgt_groups, parts),
        )
    found = words_from_pieces(attention, src_pieces, tgt_pieces, src_groups, tgt_groups)
    src_words, tgt_words, matrix = found.src_words, found.tgt_words, found.matrix
    for _, split in wanted:
        src_words, matrix = split(src_words, matrix, "src")
        tgt_words, matrix = split(tgt_words, matrix, "tgt")
    return WordAlignment(src_words, tgt_words, matrix)
