"""Alignment error rate (Och & Ney 2000) of attention against gold Sure/Possible word links.

Links are (src_index, tgt_index) pairs of 0-based word positions; attention matrices are
(T_words, S_words), rows = target words. For the Hansards trial set in
``data/alignments/en-fr`` the source is English and the target French (gold ``i-j``: English i,
French j), so an en->fr model's attention scores directly.

The gold text is lowercased and whitespace-tokenized. A model encodes each gold line as it is
(one string, as in translation); sentencepiece splits on whitespace and starts every word with a
"▁" piece, so ``nmt.alignment.words.group_pieces`` gives one group per gold token.
``merge_to_words`` relies on that and checks that the counts agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from nmt.alignment.words import Matrix, as_array, words_from_pieces
from nmt.errors import NmtError

Links = set[tuple[int, int]]
_LINK = re.compile(r"(\d+)([-p])(\d+)")


def read_gold(path: str | Path, *, one_based: bool = False) -> list[tuple[Links, Links]]:
    """(sure, possible) links of every line of a gold file, sure a subset of possible.

    Each line holds space-separated links ``i-j`` (Sure) or ``ipj`` (Possible), i the source
    (English) and j the target (French) word position; an empty line is a sentence without links.
    Positions are 0-based, or 1-based with ``one_based`` (the "talp" files); pairs come back 0-based.
    Sure links are added to the possible ones (P ⊇ S). A malformed link raises NmtError naming
    file:line and the link.
    """
    offset = 1 if one_based else 0
    gold = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            sure: Links = set()
            possible: Links = set()
            for token in line.split():
                match = _LINK.fullmatch(token)
                if match is None:
                    raise NmtError(f"{path}:{number}: malformed link {token!r} (expected I-J or IpJ)")
                if min(int(match[1]), int(match[3])) < offset:
                    raise NmtError(
                        f"{path}:{number}: link {token!r} has index 0, but the file is read as 1-based "
                        "(--one-based): leave that option out for a 0-based file"
                    )
                link = int(match[1]) - offset, int(match[3]) - offset
                (sure if match[2] == "-" else possible).add(link)
            gold.append((sure, possible | sure))
    return gold


def check_gold(
    path: str | Path,
    gold: Sequence[tuple[Links, Links]],
    src_lengths: Sequence[int],
    tgt_lengths: Sequence[int],
    *,
    one_based: bool = False,
) -> None:
    """Raise NmtError naming ``path`` and the line when the gold links cannot belong to the sentences
    of the given word counts: another number of lines, or an index beyond its sentence. A 0-based read
    whose file has no index 0 anywhere and an index equal to its sentence's length is a 1-based file:
    the message says so (pass ``one_based``)."""
    if len(gold) != len(src_lengths):
        line = min(len(gold), len(src_lengths)) + 1
        raise NmtError(
            f"{path}:{line}: the gold file has {len(gold)} lines but the text has {len(src_lengths)} "
            "sentences (one line of links per sentence, empty for none)"
        )
    offset = 1 if one_based else 0
    zero_somewhere = any(0 in link for _, possible in gold for link in possible)
    sentences = zip(gold, src_lengths, tgt_lengths, strict=True)
    for number, ((_, possible), src_len, tgt_len) in enumerate(sentences, 1):
        for s, t in sorted(possible):
            if s < src_len and t < tgt_len:
                continue
            side, index, length = ("source", s, src_len) if s >= src_len else ("target", t, tgt_len)
            hint = (
                " and no link anywhere has index 0: the file looks 1-based (pass --one-based)"
                if not one_based and not zero_somewhere and index == length
                else ""
            )
            raise NmtError(
                f"{path}:{number}: link {s + offset}-{t + offset}: {side} index {index + offset} is out of "
                f"range for a {length}-word sentence ({'1' if one_based else '0'}-based){hint}"
            )


def hard_alignment(
    matrix: Matrix, method: Literal["argmax", "threshold"] = "argmax", threshold: float = 0.5
) -> Links:
    """Links (src, tgt) read off a word attention matrix (T_words, S_words).

    argmax: each target word is linked to its highest-weighted source word (the first one on
    ties); an all-zero row gets no link. threshold: every cell with weight >= ``threshold`` is a
    link, so a target word may get several links or none.
    """
    weights = as_array(matrix)
    if method == "argmax":
        return {(int(weights[t].argmax()), t) for t in range(weights.shape[0]) if weights[t].max() > 0}
    if method == "threshold":
        return {(int(s), int(t)) for t, s in np.argwhere(weights >= threshold)}
    raise ValueError(f"unknown alignment method {method!r} (argmax or threshold)")


def diagonal_alignment(src_len: int, tgt_len: int) -> Links:
    """The reference a learned alignment should beat: target word t linked to the source word at the
    same relative position, floor((t + 0.5) * src_len / tgt_len)."""
    return {(min(int((t + 0.5) * src_len / tgt_len), src_len - 1), t) for t in range(tgt_len)}


def aer(predicted: Sequence[Links], gold: Sequence[tuple[Links, Links]]) -> float:
    """Corpus AER = 1 - (|A∩S| + |A∩P|) / (|A| + |S|), each count summed over the sentences.

    predicted: the links A of every sentence; gold: its (S, P), where P is taken as P ∪ S.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted alignments for {len(gold)} gold ones")
    hits = size = 0
    for links, (sure, possible) in zip(predicted, gold, strict=True):
        hits += len(links & sure) + len(links & (possible | sure))
        size += len(links) + len(sure)
    if size == 0:
        raise ValueError("AER is undefined without predicted or sure links")
    return 1.0 - hits / size


def shift_attention(attention: Matrix) -> np.ndarray:
    """The shifted alignment of Chen et al. (2020): (T + 1, S) -> (T, S), rows 1..T of ``attention``.

    ``attention`` has one row per decoding step, for the target pieces + "</s>": row t is the step
    that predicts token t from tokens < t. The step whose input is token t (row t + 1) aligns token t
    better in Transformers, so row t of the result is row t + 1 (the last row: the "</s>" step). The
    result pairs with the target pieces without "</s>" (``tgt_tokens[:-1]``).
    """
    return as_array(attention)[1:]


def merge_to_words(
    attention: Matrix,
    src_pieces: Sequence[str],
    tgt_pieces: Sequence[str],
    src_words: Sequence[str],
    tgt_words: Sequence[str],
) -> np.ndarray:
    """Piece attention (len(tgt_pieces), len(src_pieces)) -> (len(tgt_words), len(src_words)).

    The pieces (with or without "</s>") are grouped at "▁" boundaries and merged as in
    ``nmt.alignment.words.words_from_pieces`` ("</s>" dropped, rows renormalised over words); the
    groups are matched one to one with the given whitespace tokens. Differing counts raise NmtError.
    """
    found = words_from_pieces(attention, src_pieces, tgt_pieces)
    for side, merged, words in (
        ("source", found.src_words, src_words),
        ("target", found.tgt_words, tgt_words),
    ):
        if len(merged) != len(words):
            raise NmtError(
                f"{side}: {len(merged)} sentencepiece words for {len(words)} tokens ({' '.join(words)})"
            )
    return found.matrix
