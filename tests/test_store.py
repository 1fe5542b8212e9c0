"""Prepared training corpora in the data cache: round trip, reuse, re-preparation, bad input."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import compose

from nmt.config import SubwordConfig
from nmt.data import cache_entries
from nmt.data.prepared_text import open_text, prepare_text
from nmt.data.store import TrainingData, prepare_training_data, sample_sentences
from nmt.data.vocab import Vocab, train_vocab
from nmt.errors import NmtError


def config(tmp_path: Path, *overrides: str) -> Any:
    """A Multi30k en-de run config (500 training pairs, vocabulary 400) with its cache in tmp_path."""
    return compose(
        "data=multi30k_en_de",
        "data.train.max_pairs=500",
        "data.spm.vocab_size=400",
        f"cache_dir={tmp_path / 'cache'}",
        f"run_dir={tmp_path / 'run'}",
        *overrides,
    )


def text_corpus(tmp_path: Path, pairs: list[tuple[str, str]], *overrides: str) -> Any:
    """A run config whose training split is ``pairs``, written to two text files in tmp_path."""
    (tmp_path / "c.en").write_text("".join(f"{s}\n" for s, _ in pairs), encoding="utf-8")
    (tmp_path / "c.fr").write_text("".join(f"{t}\n" for _, t in pairs), encoding="utf-8")
    files = [f"data.train.src.path={tmp_path / 'c.en'}", f"data.train.tgt.path={tmp_path / 'c.fr'}"]
    return config(tmp_path, *files, "data.spm.vocab_size=100", *overrides)


def prepared(cfg: Any, build: bool = True) -> TrainingData:
    """``prepare_training_data`` of a run config's data, cache and run directory."""
    return prepare_training_data(cfg.data, cfg.cache_dir, cfg.run_dir, build=build)


def multi30k(data_dir: Path, count: int) -> list[tuple[str, str]]:
    with (
        gzip.open(data_dir / "multi30k/train.en.gz", "rt") as en,
        gzip.open(data_dir / "multi30k/train.de.gz", "rt") as de,
    ):
        return [(s.strip(), t.strip()) for s, t, _ in zip(en, de, range(count), strict=False)]


def test_ids_decode_back_to_the_cleaned_text(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    data = prepared(cfg)
    text = open_text(prepare_text(cfg.data, cfg.cache_dir))
    assert len(data.corpus) == len(text) == data.report["kept"] == 500
    src_vocab, tgt_vocab = (Vocab(path) for path in data.vocab_models)
    every = np.arange(len(text))
    batch = data.corpus.dataset[every]
    assert src_vocab.decode(batch.column("src_ids").to_pylist()) == text["src"]
    assert tgt_vocab.decode(batch.column("tgt_ids").to_pylist()) == text["tgt"]
    assert np.array_equal(data.corpus.src_lengths, [len(ids) for ids in batch.column("src_ids").to_pylist()])
    assert text[0] == {
        "src": "Two young, White males are outside near many bushes.",
        "tgt": "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
    }


def test_separate_vocabularies_encode_each_side(tmp_path: Path) -> None:
    cfg = config(tmp_path, "data.spm.joint=false")
    data = prepared(cfg)
    src_vocab, tgt_vocab = (Vocab(path) for path in data.vocab_models)
    assert [p.name for p in data.vocab_models] == ["spm.src.model", "spm.tgt.model"]
    text = open_text(prepare_text(cfg.data, cfg.cache_dir))
    batch = data.corpus.dataset[np.arange(50)]
    assert src_vocab.decode(batch.column("src_ids").to_pylist()) == text["src"][:50]
    assert tgt_vocab.decode(batch.column("tgt_ids").to_pylist()) == text["tgt"][:50]


def test_a_batch_holds_the_pairs_it_names(tmp_path: Path) -> None:
    data = prepared(config(tmp_path))
    batch = data.corpus.batch(np.array([7, 3]))
    assert batch.src.shape[0] == 2
    assert int(batch.src_mask[0].sum()) == data.corpus.src_lengths[7] + 1  # + EOS
    assert int(batch.src_mask[1].sum()) == data.corpus.src_lengths[3] + 1


def test_a_second_preparation_reuses_every_entry(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    prepared(cfg)
    cache = tmp_path / "cache" / "prepared"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    again = prepared(cfg, build=False)  # would raise if anything had to be built
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*")} == before
    assert len(again.corpus) == 500


def test_a_changed_source_file_is_prepared_again(tmp_path: Path, data_dir: Path) -> None:
    pairs = multi30k(data_dir, 200)
    cfg = text_corpus(tmp_path, pairs)
    first = prepare_text(cfg.data, cfg.cache_dir)
    with (tmp_path / "c.en").open("a") as en, (tmp_path / "c.fr").open("a") as fr:
        en.write("A brand new sentence.\n")
        fr.write("Une phrase toute neuve.\n")
    second = prepare_text(cfg.data, cfg.cache_dir)
    assert second != first and first.is_dir()
    assert open_text(second)[-1] == {"src": "A brand new sentence.", "tgt": "Une phrase toute neuve."}
    # same size, new content: the modification time tells
    (tmp_path / "c.fr").write_text((tmp_path / "c.fr").read_text().replace("Une", "Une"[::-1]))
    os.utime(tmp_path / "c.fr", ns=(1, 1))
    assert prepare_text(cfg.data, cfg.cache_dir) not in (first, second)


def test_cleaning_counts_each_reason_and_keeps_the_order(tmp_path: Path) -> None:
    pairs = [
        ("A cafe\u0301  here. ", "Un   café ici."),  # kept, NFC + whitespace normalised
        ("", "vide"),  # empty
        ("   ", "blanc"),  # empty after normalisation
        (" ".join(["w"] * 11), "court"),  # too_long (max_words 10)
        ("one two three four five six", "un"),  # ratio 6 > 3 with 6 >= 5 words
        ("one two three", "un"),  # ratio 3 but only 3 words: kept
        ("A café here.", "Un café ici."),  # duplicate of the first after normalisation
    ]
    cfg = text_corpus(tmp_path, pairs, "data.clean.max_words=10", "data.clean.max_ratio=3.0")
    data = prepared(cfg)
    text = open_text(prepare_text(cfg.data, cfg.cache_dir))
    assert list(zip(text["src"], text["tgt"], strict=True)) == [
        ("A caf\u00e9 here.", "Un café ici."),
        ("one two three", "un"),
    ]
    assert data.report == {"read": 7, "kept": 2, "empty": 2, "too_long": 1, "ratio": 1, "duplicate": 1}
    undeduplicated = prepared(
        text_corpus(tmp_path, pairs, "data.clean.max_words=10", "data.clean.dedupe=false")
    )
    assert undeduplicated.report["duplicate"] == 0 and undeduplicated.report["kept"] == 3


def test_worker_processes_prepare_the_same_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = prepared(config(tmp_path / "one", "data.num_proc=1"))
    monkeypatch.setattr(cache_entries, "PARALLEL_MIN_PAIRS", 0)  # even 500 pairs go to two workers,
    monkeypatch.setattr(cache_entries, "PIECE", 128)  # in pieces of 128
    two = prepared(config(tmp_path / "two", "data.num_proc=2"))
    every = np.arange(500)
    assert one.corpus.dataset[every].equals(two.corpus.dataset[every])


def test_a_resumed_run_encodes_with_its_own_vocabulary(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cached = prepared(cfg)
    (tmp_path / "run").mkdir()
    own = tmp_path / "run" / "spm.model"
    sources = open_text(prepare_text(cfg.data, cfg.cache_dir))["src"]
    train_vocab(sources, own, SubwordConfig(vocab_size=300))
    resumed = prepared(cfg)
    assert resumed.vocab_models == (own, own)
    assert len(Vocab(own)) == 300 and len(Vocab(cached.vocab_models[0])) == 400
    assert not np.array_equal(resumed.corpus.src_lengths, cached.corpus.src_lengths)


def test_runs_of_every_seed_share_one_vocabulary_and_its_ids(tmp_path: Path) -> None:
    """The vocabulary sample has a seed of its own (data.spm.seed): a run's seed does not change it."""
    one = prepared(config(tmp_path, "seed=1"))
    two = prepared(config(tmp_path, "seed=2"))
    other_sample = prepared(config(tmp_path, "seed=2", "data.spm.seed=2"))
    assert one.vocab_models == two.vocab_models != other_sample.vocab_models
    assert one.corpus.dataset.cache_files == two.corpus.dataset.cache_files != []


def test_a_sampled_vocabulary_depends_only_on_the_seed(tmp_path: Path) -> None:
    """Corpora over input_sentence_size are sampled with the seed: same seed, same pieces and scores."""
    corpus = config(tmp_path, "data.train.max_pairs=2000")
    text = open_text(prepare_text(corpus.data, corpus.cache_dir))
    cfg = SubwordConfig(vocab_size=300)

    def pieces(seed: int, name: str) -> list[tuple[str, float]]:
        train_vocab(sample_sentences(text, ("src", "tgt"), 500, seed), tmp_path / f"{name}.model", cfg)
        sp = Vocab(tmp_path / f"{name}.model").sp
        return [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]

    assert pieces(1, "a") == pieces(1, "b") != pieces(2, "c")
    sample = sample_sentences(text, ("src", "tgt"), 500, 1)
    assert len(set(sample)) > 450 and set(sample) <= set(text["src"]) | set(text["tgt"])


# ----------------------------------------------------------------- bad input
def test_an_empty_corpus_names_its_files(tmp_path: Path) -> None:
    with pytest.raises(NmtError, match="holds no sentence pairs") as err:
        prepared(text_corpus(tmp_path, []))
    assert "c.en" in str(err.value) and "c.fr" in str(err.value)
    assert not list((tmp_path / "cache" / "prepared").iterdir())  # nothing half-built is left


def test_cleaning_every_pair_away_names_the_cleaning_keys(tmp_path: Path, data_dir: Path) -> None:
    cfg = text_corpus(tmp_path, multi30k(data_dir, 50), "data.clean.max_words=2")
    with pytest.raises(NmtError, match=r"cleaning dropped all 50 pairs") as err:
        prepared(cfg)
    assert (
        "data.clean" in str(err.value) and "max_words=2" in str(err.value) and "too_long 50" in str(err.value)
    )


def test_a_vocabulary_too_small_for_the_characters_names_the_minimum(tmp_path: Path) -> None:
    cfg = config(tmp_path, "data.spm.vocab_size=30")
    with pytest.raises(NmtError, match=r"data\.spm\.vocab_size=30 is too small") as err:
        prepared(cfg)
    needed = int(str(err.value).split("at least ")[1].split()[0])
    assert needed > 30
    data = prepared(config(tmp_path, f"data.spm.vocab_size={needed}"))  # the minimum is enough
    assert len(Vocab(data.vocab_models[0])) == needed


def test_ranks_other_than_0_never_build(tmp_path: Path) -> None:
    with pytest.raises(NmtError, match="rank 0 should have prepared it"):
        prepared(config(tmp_path), build=False)
