"""Attention as word alignment: subword -> word tables, dumps, heatmaps and AER on the Hansards gold."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import sentencepiece as spm
import torch

from nmt.alignment.aer import (
    aer,
    diagonal_alignment,
    hard_alignment,
    merge_to_words,
    read_gold,
    shift_attention,
)
from nmt.alignment.dump import read_jsonl, read_npz, record, to_json_record, write_jsonl, write_npz
from nmt.alignment.plot import IndexEntry, heatmap, write_html_index
from nmt.alignment.words import (
    clitic_parts,
    detach_punctuation,
    group_pieces,
    merge,
    punctuation_parts,
    split_clitics,
    word_alignment,
    word_strings,
)
from nmt.errors import NmtError
from nmt.translate import Translation

SRC = ["▁je", "▁t", "'", "aime", ".", "</s>"]
TGT = ["▁I", "▁love", "▁you", ".", "</s>"]
ATTENTION = np.array(  # (len(TGT), len(SRC)), rows sum to 1
    [
        [0.7, 0.1, 0.0, 0.1, 0.0, 0.1],  # ▁I
        [0.1, 0.1, 0.1, 0.6, 0.0, 0.1],  # ▁love
        [0.0, 0.5, 0.2, 0.1, 0.0, 0.2],  # ▁you
        [0.0, 0.0, 0.0, 0.1, 0.5, 0.4],  # .
        [0.0, 0.0, 0.0, 0.0, 0.2, 0.8],  # </s>
    ]
)
GOLD_DIR = Path("alignments/en-fr/normalized")


def _translation() -> Translation:
    return Translation(
        "je t'aime.", "I love you.", -0.25, -1.0, SRC, TGT, torch.tensor(ATTENTION, dtype=torch.float32)
    )


# ------------------------------------------------------------------ words
def test_group_pieces() -> None:
    assert group_pieces(SRC) == [[0], [1, 2, 3, 4], [5]]
    assert word_strings(SRC, group_pieces(SRC)) == ["je", "t'aime.", "</s>"]
    # a lone "▁" joins the next piece's word; a piece after "</s>" starts a word
    pieces = ["▁", "e", "ach", "▁of", "</s>", "x"]
    assert group_pieces(pieces) == [[0, 1, 2], [3], [4], [5]]
    assert word_strings(pieces, group_pieces(pieces)) == ["each", "of", "</s>", "x"]


def test_merge_sums_source_pieces_and_averages_target_pieces() -> None:
    words = merge(ATTENTION, group_pieces(SRC), group_pieces(TGT))
    # columns je | t'aime. (▁t + ' + aime + .) | </s>; row "you." = mean of the ▁you and . rows
    expected = [
        [0.7, 0.2, 0.1],
        [0.1, 0.8, 0.1],
        [0.0, (0.8 + 0.6) / 2, (0.2 + 0.4) / 2],
        [0.0, 0.2, 0.8],
    ]
    np.testing.assert_allclose(words, expected, atol=1e-12)
    np.testing.assert_allclose(words.sum(1), 1.0)
    with pytest.raises(ValueError, match="partition"):
        merge(ATTENTION, [[0], [1, 2]], group_pieces(TGT))


def test_word_alignment_drops_eos_renormalises_and_splits_clitics() -> None:
    plain = word_alignment(_translation(), clitics=False, punctuation=False)
    assert plain.src_words == ["je", "t'aime."]
    assert plain.tgt_words == ["I", "love", "you."]
    # rows without the </s> column, divided by what is left: 0.9, 0.9 and 0.7
    np.testing.assert_allclose(plain.matrix, [[7 / 9, 2 / 9], [1 / 9, 8 / 9], [0.0, 1.0]], atol=1e-6)

    table = word_alignment(_translation(), punctuation=False)
    assert table.src_words == ["je", "t'", "aime."]
    # the clitic ends on a piece boundary: t' = ▁t + ', aime. = aime + . (then no </s>, / 0.9, 0.9, 0.7)
    np.testing.assert_allclose(
        table.matrix, [[7 / 9, 1 / 9, 1 / 9], [1 / 9, 2 / 9, 6 / 9], [0, 0.5, 0.5]], atol=1e-6
    )

    full = word_alignment(_translation())  # punctuation apart by default
    assert full.src_words == ["je", "t'", "aime", "."]
    assert full.tgt_words == ["I", "love", "you", "."]
    # "you." splits between its pieces: row ▁you alone (0.5 + 0.2 on t', 0.1 on aime, / 0.8),
    # row . alone (0.1 on aime, 0.5 on ., / 0.6)
    np.testing.assert_allclose(full.matrix[2], [0, 7 / 8, 1 / 8, 0], atol=1e-6)
    np.testing.assert_allclose(full.matrix[3], [0, 0, 1 / 6, 5 / 6], atol=1e-6)

    # a clitic inside one piece cannot regroup pieces: the parts share the word's weights
    one_piece = Translation(
        "",
        "",
        0.0,
        0.0,
        ["▁je", "▁t'aime", "</s>"],
        ["▁I", "▁love", "</s>"],
        torch.tensor([[0.6, 0.4, 0.0], [0.2, 0.8, 0.0], [0.0, 0.0, 1.0]]),
    )
    shared = word_alignment(one_piece)
    assert shared.src_words == ["je", "t'", "aime"]
    np.testing.assert_allclose(shared.matrix, [[0.6, 0.2, 0.2], [0.2, 0.4, 0.4]], atol=1e-6)
    for matrix in (plain.matrix, table.matrix, full.matrix, shared.matrix):
        np.testing.assert_allclose(matrix.sum(1), 1.0, atol=1e-6)


TEXTBOOK_RULE = [("Je", "I"), ("t'", "you"), ("aime", "love"), (".", ".")]


def _strongest(attention: list[list[float]]) -> list[tuple[str, str]]:
    """The (target word, strongest source word) pairs of "I love you." -> "Je t'aime." from a piece
    matrix (rows ▁Je ▁t ' aime . </s>, columns ▁I ▁love ▁you . </s>), as `make demo` reads it."""
    translation = Translation(
        "I love you.",
        "Je t'aime.",
        0.0,
        0.0,
        ["▁I", "▁love", "▁you", ".", "</s>"],
        ["▁Je", "▁t", "'", "aime", ".", "</s>"],
        torch.tensor(attention),
    )
    table = word_alignment(translation, punctuation=True)
    assert table.tgt_words == [t for t, _ in TEXTBOOK_RULE]
    return [(t, s) for t, s, _ in table.strongest_sources()]


def test_the_textbook_rule_reads_each_rows_maximum() -> None:
    """The textbook matrix (je→I .94, t'→you .88, aime→love .95) passes the rule; t' looking at "love"
    (the README's half-formed 30-minute matrix of an earlier default run) does not."""
    textbook = [
        [0.94, 0.02, 0.02, 0.01, 0.01],  # ▁Je
        [0.02, 0.06, 0.90, 0.01, 0.01],  # ▁t
        [0.02, 0.08, 0.86, 0.02, 0.02],  # '   (t' = the mean of ▁t and ': you .88)
        [0.01, 0.95, 0.02, 0.01, 0.01],  # aime
        [0.01, 0.01, 0.01, 0.90, 0.07],  # .
        [0.01, 0.01, 0.01, 0.07, 0.90],  # </s>
    ]
    assert _strongest(textbook) == TEXTBOOK_RULE
    half_formed = [row[:] for row in textbook]
    half_formed[1] = half_formed[2] = [0.15, 0.69, 0.12, 0.03, 0.01]
    assert _strongest(half_formed)[1] == ("t'", "love")


def test_clitics_and_punctuation_rules() -> None:
    assert clitic_parts("t'aime") == ["t'", "aime"]
    assert clitic_parts("J’t'aime") == ["J’", "t'", "aime"]
    assert clitic_parts("qu'il") == ["qu'", "il"]
    assert clitic_parts("l'") == ["l'"]  # nothing to split off
    assert clitic_parts("aujourd'hui") == ["aujourd'hui"]
    assert punctuation_parts("aime.") == ["aime", "."]
    assert punctuation_parts("vous?!") == ["vous", "?!"]
    assert punctuation_parts("l'") == ["l'"]  # the apostrophe belongs to the clitic
    assert punctuation_parts("...") == ["..."]
    words, matrix = split_clitics(["je", "t'aime"], np.array([[0.5, 0.5]]), "src")
    assert words == ["je", "t'", "aime"]
    np.testing.assert_allclose(matrix, [[0.5, 0.25, 0.25]])
    words, matrix = detach_punctuation(["aime."], np.array([[0.3, 0.7]]), "tgt")
    assert words == ["aime", "."]
    np.testing.assert_allclose(matrix, [[0.3, 0.7], [0.3, 0.7]])


# ------------------------------------------------------------------ dumps
def test_jsonl_and_npz_round_trip(tmp_path: Path) -> None:
    other = Translation(
        "l’été",
        "summer",
        -0.5,
        -2.0,
        ["▁l", "’", "été", "</s>"],
        ["▁summer", "</s>"],
        torch.tensor([[0.2, 0.1, 0.6, 0.1], [0.0, 0.0, 0.1, 0.9]]),
    )
    records = [record(_translation(), punctuation=False), record(other)]
    assert records[1].src_words == ["l’", "été"]
    line = to_json_record(records[0])
    assert line["attention"][0] == [0.7, 0.1, 0.0, 0.1, 0.0, 0.1]
    assert line["src_words"] == ["je", "t'", "aime."]
    write_jsonl(records, tmp_path / "align.jsonl")
    write_npz(records, tmp_path / "align.npz")
    assert len((tmp_path / "align.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    for loaded in (read_jsonl(tmp_path / "align.jsonl"), read_npz(tmp_path / "align.npz")):
        assert len(loaded) == 2
        for got, want in zip(loaded, records, strict=True):
            for name in ("source", "translation", "src_tokens", "tgt_tokens", "src_words", "tgt_words"):
                assert getattr(got, name) == getattr(want, name)
            assert got.score == pytest.approx(want.score) and got.log_prob == pytest.approx(want.log_prob)
            for name in ("attention", "word_attention"):
                assert getattr(got, name).shape == getattr(want, name).shape
                np.testing.assert_allclose(getattr(got, name), getattr(want, name), atol=1e-4)
    with np.load(tmp_path / "align.npz", allow_pickle=False) as archive:
        assert archive["0/src_tokens"].dtype.kind == "U"
    (tmp_path / "bad.jsonl").write_text(json.dumps(line) + "\n{}\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"bad\.jsonl:2"):
        read_jsonl(tmp_path / "bad.jsonl")


# ------------------------------------------------------------------ plots
def test_heatmap_png_svg_and_index(tmp_path: Path) -> None:
    table = word_alignment(_translation())
    png = heatmap(table.matrix, table.src_words, table.tgt_words, tmp_path / "s1.png", title="je t'aime.")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) > 100
    svg = heatmap(
        np.random.default_rng(0).dirichlet(np.ones(20), 18),
        [f"s{i}" for i in range(20)],
        [f"t{i}" for i in range(18)],
        tmp_path / "s2.svg",
    )
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    with pytest.raises(NmtError, match=r"use \.png or \.svg"):
        heatmap(table.matrix, table.src_words, table.tgt_words, tmp_path / "s1.jpg")
    index = write_html_index(
        [IndexEntry("a < b & c", "je t'aime.", png), IndexEntry("x", "y", svg)], tmp_path, "rnn_bahdanau"
    )
    page = index.read_text(encoding="utf-8")
    assert "a &lt; b &amp; c" in page and 'src="s1.png"' in page and 'src="s2.svg"' in page


# ------------------------------------------------------------------ AER
def test_hard_alignment_and_shift() -> None:
    matrix = np.array([[0.6, 0.4, 0.0], [0.1, 0.3, 0.6], [0.0, 0.0, 0.0]])  # (T=3, S=3)
    assert hard_alignment(matrix) == {(0, 0), (2, 1)}  # (src, tgt); the all-zero row gets no link
    assert hard_alignment(matrix, "threshold", threshold=0.3) == {(0, 0), (1, 0), (1, 1), (2, 1)}
    np.testing.assert_array_equal(shift_attention(ATTENTION), ATTENTION[1:])
    shifted = merge_to_words(
        shift_attention(ATTENTION), SRC, TGT[:-1], ["je", "t'aime."], ["I", "love", "you."]
    )
    assert shifted.shape == (3, 2)
    with pytest.raises(NmtError, match="target: 3 sentencepiece words for 4 tokens"):
        merge_to_words(ATTENTION, SRC, TGT, ["je", "t'aime."], ["i", "love", "you", "."])


def test_aer_by_hand(tmp_path: Path) -> None:
    gold_file = tmp_path / "gold.txt"
    gold_file.write_text("0-0 1-1 2p1\n0-0\n", encoding="utf-8")
    gold = read_gold(gold_file)
    assert gold == [({(0, 0), (1, 1)}, {(0, 0), (1, 1), (2, 1)}), ({(0, 0)}, {(0, 0)})]
    predicted = [{(0, 0), (2, 1), (1, 2)}, {(0, 0)}]
    # sentence 1: |A∩S| = 1, |A∩P| = 2, |A| = 3, |S| = 2; sentence 2: 1, 1, 1, 1
    # AER = 1 - (1 + 2 + 1 + 1) / (3 + 2 + 1 + 1) = 1 - 5/7 = 2/7
    assert aer(predicted, gold) == pytest.approx(2 / 7)
    assert aer(predicted[:1], gold[:1]) == pytest.approx(1 - 3 / 5)
    assert aer([s for s, _ in gold], gold) == 0.0
    gold_file.write_text("0-0\n1-1 2x1\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"gold\.txt:2: malformed link '2x1'"):
        read_gold(gold_file)


def test_diagonal_alignment_links_equal_relative_positions() -> None:
    assert diagonal_alignment(3, 3) == {(0, 0), (1, 1), (2, 2)}
    assert diagonal_alignment(2, 4) == {(0, 0), (0, 1), (1, 2), (1, 3)}  # (src, tgt)
    assert diagonal_alignment(5, 2) == {(1, 0), (3, 1)}


def test_hansards_trial_gold(data_dir: Path) -> None:
    folder = data_dir / GOLD_DIR
    gold = read_gold(folder / "trial.gold.0based.txt")
    english = (folder / "trial.en").read_text(encoding="utf-8").splitlines()
    french = (folder / "trial.fr").read_text(encoding="utf-8").splitlines()
    assert len(gold) == len(english) == len(french) == 37
    listed_possible = (folder / "trial.gold.0based.txt").read_text(encoding="utf-8").count("p")
    assert listed_possible == 1446
    assert sum(len(sure) for sure, _ in gold) == 338
    # no pair is both S and P (SOURCE.md), so P after adding S holds 1446 + 338 links
    assert sum(len(possible) for _, possible in gold) == 1446 + 338 == 1784
    for (sure, possible), en, fr in zip(gold, english, french, strict=True):
        assert sure <= possible
        assert all(i < len(en.split()) and j < len(fr.split()) for i, j in possible)
    talp = read_gold(folder / "trial.gold.1based.talp", one_based=True)
    assert talp == gold
    raw = read_gold(folder / "trial.gold.1based.talp")
    assert [({(i - 1, j - 1) for i, j in s}, {(i - 1, j - 1) for i, j in p}) for s, p in raw] == gold


def test_sentencepiece_words_match_gold_tokens(data_dir: Path) -> None:
    """A model encodes each gold line whole; its "▁" groups are exactly the whitespace tokens."""
    folder = data_dir / GOLD_DIR
    lines = [
        line for name in ("trial.en", "trial.fr") for line in (folder / name).read_text("utf-8").splitlines()
    ]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=300,
        hard_vocab_limit=False,
        minloglevel=2,
        num_threads=1,
    )
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    for line in lines:
        pieces = [*sp.encode(line, out_type=str), "</s>"]
        tokens = line.split()
        uniform = np.full((1, len(pieces)), 1 / len(pieces))
        matrix = merge_to_words(uniform, pieces, ["▁x"], tokens, ["x"])
        assert matrix.shape == (1, len(tokens))
        np.testing.assert_allclose(matrix.sum(), 1.0)
