"""Alignment readings beyond attention: saliency, symmetrization, the statistical aligner, supervised
attention labels and loss, the gold-file checks, and the data options of the alignment recipe."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose, tiny_model_config
from omegaconf import OmegaConf

from nmt.alignment.aer import aer, check_gold, read_gold
from nmt.alignment.agreement import spearman
from nmt.alignment.saliency import saliency_matrix
from nmt.config import DataConfig, SubwordConfig
from nmt.config_checks import check_training_config
from nmt.data.aligner import eflomal_links
from nmt.data.links import AttentionLabels, WordLinks
from nmt.data.prepared_text import prepare_text
from nmt.data.pretokenize import word_tokenizer
from nmt.data.sources import load_split
from nmt.data.symmetrize import grow_diag_final_and, intersection, union
from nmt.data.vocab import PAD, Vocab, train_vocab
from nmt.errors import NmtError
from nmt.models import build_model
from nmt.training.supervised_attention import alignment_loss

WMT = "wmt/train"
GOLD = "alignments/en-fr/normalized"


# ---------------------------------------------------------------- saliency
@pytest.mark.parametrize("name", ["rnn_bahdanau", "rnn_luong_dot", "transformer"])
def test_saliency_rows_are_non_negative_distributions_over_the_source(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), 40, 40, PAD).eval()
    src, tgt = [5, 6, 7, 8, 9, 10], [11, 12, 13, 14]
    matrix = saliency_matrix(model, src, tgt, samples=4, generator=torch.Generator().manual_seed(0))
    assert matrix.shape == (len(tgt) + 1, len(src) + 1)
    assert (matrix >= 0).all()
    assert torch.allclose(matrix.sum(1), torch.ones(len(tgt) + 1), atol=1e-5)
    assert not torch.allclose(matrix, torch.full_like(matrix, 1 / (len(src) + 1)))  # real gradients
    assert not any(p.grad is not None for p in model.parameters())  # the model is left as it was


def test_spearman_matches_the_rank_definition() -> None:
    a = np.array([[0.1, 0.5, 0.4], [0.2, 0.2, 0.6]])
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    # ranks with ties averaged: a -> [1, 5, 4, 2.5, 2.5, 6]; b's order [6, 5, 4, 3, 2, 1]
    b = np.array([[6, 5, 4], [3, 2, 1]])
    ra, rb = np.array([1, 5, 4, 2.5, 2.5, 6]), np.array([6, 5, 4, 3, 2, 1])
    assert spearman(a, b) == pytest.approx(np.corrcoef(ra, rb)[0, 1])


# ---------------------------------------------------------------- symmetrization
FORWARD = {(0, 0), (1, 1), (2, 1), (3, 3), (0, 3), (6, 0)}
BACKWARD = {(0, 0), (1, 1), (1, 2), (3, 3), (3, 4), (5, 6)}


def test_symmetrization_heuristics_on_a_hand_made_example() -> None:
    assert intersection(FORWARD, BACKWARD) == {(0, 0), (1, 1), (3, 3)}
    assert union(FORWARD, BACKWARD) == FORWARD | BACKWARD
    # grown from the intersection: (2,1), (1,2) and (3,4) neighbour it and bring an unlinked word;
    # (0,3) neighbours (1,2) but both of its words are linked by then; final-and adds (5,6) (both
    # words unlinked) but not (6,0) (French word 0 is linked)
    assert grow_diag_final_and(FORWARD, BACKWARD) == {(0, 0), (1, 1), (3, 3), (2, 1), (1, 2), (3, 4), (5, 6)}


# ---------------------------------------------------------------- the statistical aligner
def test_eflomal_aligns_a_few_hundred_real_pairs(data_dir: Path) -> None:
    en = (data_dir / WMT / "europarl-v7-sample20k.tok.en-fr.en").read_text().splitlines()
    fr = (data_dir / WMT / "europarl-v7-sample20k.tok.en-fr.fr").read_text().splitlines()
    pairs = [(html.unescape(s).lower(), html.unescape(t).lower()) for s, t in zip(en, fr, strict=True)]
    trial_en = (data_dir / GOLD / "trial.en").read_text().splitlines()
    trial_fr = (data_dir / GOLD / "trial.fr").read_text().splitlines()
    pairs = [*zip(trial_en, trial_fr, strict=True), *[(s, t) for s, t in pairs if s and t][:300]]
    forward, backward = eflomal_links([s for s, _ in pairs], [t for _, t in pairs])
    assert len(forward) == len(backward) == 37 + 300
    for links, (s, t) in zip(forward, pairs, strict=True):
        assert links and all(i < len(s.split()) and j < len(t.split()) for i, j in links)
    gold = read_gold(data_dir / GOLD / "trial.gold.0based.txt")
    diagonal_like = aer([{(j, j)} for j in range(37)], gold)
    assert aer(forward[:37], gold) < 0.5 < diagonal_like  # it really aligns words


# ---------------------------------------------------------------- supervised attention
def test_alignment_loss_is_zero_at_the_labels_and_its_gradient_lowers_it() -> None:
    labels = torch.tensor([[[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]])  # last step: no label
    assert alignment_loss(labels.clone(), labels).item() == pytest.approx(0.0, abs=1e-6)
    assert alignment_loss(labels.clone(), labels).item() == pytest.approx(0.0, abs=1e-6)
    scores = torch.zeros(1, 3, 3, requires_grad=True)
    before = alignment_loss(scores.softmax(-1), labels)
    assert before.item() > 0
    (gradient,) = torch.autograd.grad(before, scores)
    after = alignment_loss((scores - 0.5 * gradient).softmax(-1), labels)
    assert after.item() < before.item()
    assert gradient[0, 2].abs().sum() == 0  # the unlabelled step is left alone


@pytest.mark.parametrize("name", ["rnn_bahdanau", "transformer"])
def test_the_loss_pulls_the_map_translations_carry_toward_the_labels(name: str) -> None:
    """The RNN's attention, or the one Transformer head chosen with select_alignment."""
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), 40, 40, PAD).eval()  # no dropout: a clean descent
    if name == "transformer":
        model.select_alignment(0, 1)
    src = torch.tensor([[5, 6, 7, 8, 3]])
    tgt_in = torch.tensor([[2, 9, 10, 11]])
    labels = torch.zeros(1, 4, 5)
    labels[0, [0, 1, 2], [1, 0, 3]] = 1.0  # a crossing alignment, no label for EOS
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        _, attention = model(src, src != PAD, tgt_in, attention=True)
        loss = alignment_loss(attention, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_attention_labels_spread_each_link_over_the_pieces_of_its_words(tmp_path: Path) -> None:
    sentences = ["the cats sleep", "les chats dorment", "a dog", "un chien"] * 20
    model = tmp_path / "spm.model"
    train_vocab(sentences, model, SubwordConfig(vocab_size=40, character_coverage=1.0))
    vocab = Vocab(model)
    src, tgt = vocab.encode(["the cats sleep"]), vocab.encode(["les chats dorment"])
    links = WordLinks.from_sets([{(0, 0), (1, 1), (2, 2), (1, 2)}], [(3, 3)])
    labels = AttentionLabels(links, model, model).batch([0], src, tgt)[0]
    assert labels.shape == (len(tgt[0]) + 1, len(src[0]) + 1)
    sums = labels.sum(1)
    assert torch.allclose(sums[:-1], torch.ones(len(tgt[0]))) and sums[-1] == 0  # EOS: no label
    pieces = vocab.pieces(src[0])
    second_word = next(i for i, piece in enumerate(pieces[1:], 1) if piece.startswith("▁"))
    assert labels[0, :second_word].sum() == pytest.approx(1.0)  # "les" -> the pieces of "the"
    mismatch = WordLinks.from_sets([{(0, 0)}], [(4, 3)])  # counted other words: no label at all
    assert AttentionLabels(mismatch, model, model).batch([0], src, tgt).sum() == 0


# ---------------------------------------------------------------- gold files
def _gold(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gold.txt"
    path.write_text(text)
    return path


def test_gold_with_another_number_of_lines_is_named(tmp_path: Path) -> None:
    path = _gold(tmp_path, "0-0\n1-1\n")
    with pytest.raises(NmtError, match=rf"{path}:3: the gold file has 2 lines but the text has 3"):
        check_gold(path, read_gold(path), [2, 2, 2], [2, 2, 2])


def test_gold_index_out_of_range_is_named(tmp_path: Path) -> None:
    path = _gold(tmp_path, "0-0 1p1\n0-0 4-1\n")
    with pytest.raises(NmtError, match=rf"{path}:2: link 4-1: source index 4 is out of range for a 3-word"):
        check_gold(path, read_gold(path), [3, 3], [2, 2])


def test_a_one_based_gold_file_read_as_zero_based_is_recognised(data_dir: Path) -> None:
    path = data_dir / GOLD / "trial.gold.1based.talp"
    sources = (data_dir / GOLD / "trial.en").read_text().splitlines()
    targets = (data_dir / GOLD / "trial.fr").read_text().splitlines()
    lengths = [len(s.split()) for s in sources], [len(t.split()) for t in targets]
    with pytest.raises(NmtError, match=rf"{path}:\d+: .* the file looks 1-based \(pass --one-based\)"):
        check_gold(path, read_gold(path), *lengths)
    check_gold(path, read_gold(path, one_based=True), *lengths, one_based=True)  # read right: fine
    zero_based = data_dir / GOLD / "trial.gold.0based.txt"
    with pytest.raises(NmtError, match=rf"{zero_based}:1: link '0-0' has index 0, but the file is read as 1"):
        read_gold(zero_based, one_based=True)


# ---------------------------------------------------------------- data options
def _wmt_config(**options) -> DataConfig:
    source = {"format": "text", "max_pairs": 3}
    europarl = {
        **source,
        "src": {"path": f"{WMT}/europarl-v7-sample20k.tok.en-fr.en"},
        "tgt": {"path": f"{WMT}/europarl-v7-sample20k.tok.en-fr.fr"},
        "unescape": True,
    }
    news = {
        **source,
        "src": {"path": f"{WMT}/news-commentary-5k.en-fr.en"},
        "tgt": {"path": f"{WMT}/news-commentary-5k.en-fr.fr"},
    }
    raw = {"name": "t", "src_lang": "en", "tgt_lang": "fr", "train": europarl, "extra_train": [news]}
    return OmegaConf.merge(OmegaConf.structured(DataConfig), raw | options)


def test_sources_concatenate_unescape_reverse_and_lowercase(tmp_path: Path, data_dir: Path) -> None:
    plain = load_split(_wmt_config(), "train", tmp_path)
    assert len(plain) == 6
    assert plain[0] == ("It is already history .", "C' est déjà de l' histoire ancienne .")
    assert plain[3][0] == (data_dir / WMT / "news-commentary-5k.en-fr.en").read_text().splitlines()[0]
    assert not any("&apos;" in s or "&apos;" in t for s, t in plain)
    turned = load_split(_wmt_config(reverse=True, lowercase=True), "train", tmp_path)
    assert turned == [(t.lower(), s.lower()) for s, t in plain]


def test_moses_and_och_ney_tokenization_of_real_pairs(tmp_path: Path, data_dir: Path) -> None:
    tatoeba = {"format": "tsv", "tsv": {"path": "tatoeba/fra-eng.txt"}, "max_pairs": 300}
    raw = {"name": "t", "src_lang": "en", "tgt_lang": "fr", "train": tatoeba}
    config = OmegaConf.merge(OmegaConf.structured(DataConfig), raw)
    plain = load_split(config, "train", tmp_path)
    moses = load_split(OmegaConf.merge(config, {"tokenize": "moses"}), "train", tmp_path)
    hansards = OmegaConf.merge(config, {"tokenize": "och_ney", "lowercase": True})
    och_ney = load_split(hansards, "train", tmp_path)
    assert len(plain) == len(moses) == len(och_ney) == 300
    pairs = dict(zip(plain, zip(moses, och_ney, strict=True), strict=True))
    assert pairs[("I won!", "Je l'ai emporté !")] == (
        ("I won !", "Je l' ai emporté !"),
        ("i won !", "je le ai emporté !"),
    )
    for (src, _), ((moses_src, _), (och_src, och_tgt)) in pairs.items():
        assert moses_src.replace(" ", "") == src.replace(" ", "")  # words split, nothing dropped
        assert och_src == moses_src.lower()  # English: Moses alone
        assert not {"du", "des", "au", "aux", "l'", "d'", "qu'", "n'"} & set(och_tgt.split())


def test_och_ney_writes_french_as_the_hansards_gold_text_does(data_dir: Path) -> None:
    french, english = word_tokenizer("och_ney", "fr"), word_tokenizer("och_ney", "en")
    raw = "Il n'a fait que rendre légal le commerce des rues, l'objet du débat jusqu'ici."
    gold = "Il ne a fait que rendre légal le commerce de les rues , le objet de le débat jusque ici ."
    assert french(raw) == gold
    assert french("Aux Communes, aujourd'hui.") == "À les Communes , aujourd' hui ."
    for line in (data_dir / GOLD / "trial.en").read_text().splitlines():
        assert english(line) == line  # the gold text is already tokenized: nothing moves
    with pytest.raises(NmtError, match=r"data.tokenize=spacy: choose one of none, moses, och_ney"):
        word_tokenizer("spacy", "fr")


def test_data_options_are_part_of_the_prepared_corpus_key(tmp_path: Path) -> None:
    base = [
        "data=tatoeba_en_fr",
        "data.train.max_pairs=200",
        f"cache_dir={tmp_path}",
        "+data.extra_train=[{format: text, src: {path: wmt/train/news-commentary-5k.en-fr.en}, "
        "tgt: {path: wmt/train/news-commentary-5k.en-fr.fr}, max_pairs: 100}]",
    ]
    options = ([], ["data.lowercase=true"], ["data.reverse=true"], ["data.tokenize=moses"])
    entries = {prepare_text(compose(*base, *more).data, tmp_path) for more in options}
    assert len(entries) == 4
    assert prepare_text(compose(*base).data, tmp_path) in entries  # the same settings find their entry again


def test_data_and_supervision_settings_are_checked(tmp_path: Path) -> None:
    bad = compose(
        "data=tatoeba_en_fr",
        "+data.extra_train=[{format: csv}]",
        "data.tokenize=spacy",
        "trainer.alignment_weight=-1",
    )
    with pytest.raises(NmtError) as raised:
        check_training_config(bad)
    for problem in ("data.extra_train[0].format=csv", "data.tokenize=spacy", "trainer.alignment_weight=-1"):
        assert problem in str(raised.value)  # every problem named at once
    with pytest.raises(NmtError, match=r"model\.attention=none has no attention to supervise"):
        check_training_config(compose("model=rnn_noattn", "trainer.alignment_weight=1"))
