"""The pictures of attention: TensorBoard's sentences, `nmt align`'s words, titles, labels and index."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import REPO, compose
from helpers import TINY_RUN, nmt, trained_run
from hypothesis import given, settings
from hypothesis import strategies as st

from nmt.config_checks import check_training_config
from nmt.data.pipeline import load_pairs
from nmt.errors import NmtError
from nmt.rundir import load_config
from nmt.serve.engine import Engine, Input, Options
from nmt.training.showcase import TEXTBOOK, WORDS, Shown, choose_shown

SENTENCES = ["I love you.", "Two dogs, a cat and the man's ball!", '<b>Tom</b> & "Mary" at l\'été?']
"""Punctuation, a clitic and markup: what word splitting and the index must get right."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tiny en-de run (trained once, validated twice): its TensorBoard images and a
    checkpoint."""
    return trained_run(tmp_path_factory, *TINY_RUN)


@pytest.fixture(scope="module")
def aligned(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with `nmt align`'s SVG of the first sentence (love.svg) and its --out-dir (out/)."""
    folder = tmp_path_factory.mktemp("aligned")
    (folder / "sents.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    options = ["--out", str(folder / "love.svg"), "--out-dir", str(folder / "out"), "--format", "svg"]
    nmt("align", str(run), "--input", str(folder / "sents.txt"), *options)
    return folder


def _shown_in_tensorboard(run: Path) -> tuple[list[tuple[str, str, str]], set[str]]:
    """The (image tag, source, translation read) rows the run recorded, and its image tags."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "tensors": 0}).Reload()
    text = events.Tensors("attention/sentences/text_summary")[-1].tensor_proto.string_val[0].decode()
    rows = [tuple(cell.strip() for cell in line.strip("|").split("|")) for line in text.splitlines()[2:]]
    for tag in events.Tags()["images"]:
        assert events.Images(tag)[-1].encoded_image_string.startswith(b"\x89PNG"), tag
    return rows, set(events.Tags()["images"])


def test_tensorboard_shows_the_textbook_pair_and_long_validation_sentences(run: Path) -> None:
    rows, images = _shown_in_tensorboard(run)
    assert rows[0] == ("attention/0", "I love you.", "Ich liebe dich.")
    assert {tag for tag, _, _ in rows} == images == {f"attention/{i}" for i in range(4)}
    for _, source, target in rows[1:]:
        assert len(source.split()) >= 3 and len(target.split()) >= 3, (source, target)
    cfg = load_config(run)  # chosen once per run: the record is what the rule gives for its config
    chosen = choose_shown(load_pairs(cfg.data, "valid", cfg.cache_dir), ("en", "de"), 4)
    assert [(s.source, s.target) for s in chosen] == [(source, target) for _, source, target in rows]


PAIRS = [(" ".join([f"w{i}"] * (3 + i % 20)), " ".join([f"v{i}"] * (2 + i % 23))) for i in range(60)]


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(0, 80),
    sentences=st.lists(st.sampled_from(["Hello there.", "Tom is here!"]), max_size=3),
    languages=st.sampled_from([("en", "fr"), ("en", "xx"), ("xx", "fr")]),
)
def test_the_sentences_shown_follow_the_rule(
    count: int, sentences: list[str], languages: tuple[str, str]
) -> None:
    shown = choose_shown(PAIRS, languages, count, sentences)
    assert shown == choose_shown(PAIRS, languages, count, sentences)  # deterministic
    textbook = [Shown(TEXTBOOK["en"], TEXTBOOK.get(languages[1]))] if languages[0] == "en" else []
    first = [*textbook, *(Shown(s, None) for s in sentences)]
    fits = [pair for pair in PAIRS if len(pair[0].split()) in WORDS and len(pair[1].split()) in WORDS]
    assert len(shown) == min(count, len(first) + len(fits))
    assert shown[: len(first)] == first[:count]
    rest = [(s.source, s.target) for s in shown[len(first) :]]
    assert len(set(rest)) == len(rest) and all(pair in fits for pair in rest)


def test_an_empty_sentence_to_show_is_refused_by_its_key() -> None:
    cfg = compose(*TINY_RUN, "trainer.attention_sentences=['Hello.','  ']")
    with pytest.raises(NmtError, match=r"trainer\.attention_sentences\[1\]="):
        check_training_config(cfg)


def test_align_and_the_explorer_split_words_alike(run: Path, aligned: Path) -> None:
    page = (REPO / "nmt/serve/static/index.html").read_text(encoding="utf-8")
    assert re.search(r'<input id="punctuation" type="checkbox" checked>', page)  # the explorer's default
    explorer = Engine.load("tiny", run).translate([Input(s) for s in SENTENCES], Options(punctuation=True))
    lines = (aligned / "out/alignments.jsonl").read_text(encoding="utf-8").splitlines()
    for record, nbest in zip(map(json.loads, lines), explorer, strict=True):
        assert (record["src_words"], record["tgt_words"]) == (nbest[0]["src_words"], nbest[0]["tgt_words"])
    first = json.loads(lines[0])
    assert first["src_words"] == ["I", "love", "you", "."]


def test_the_heatmap_names_its_model_step_and_axes(aligned: Path) -> None:
    texts = {"".join(element.itertext()).strip() for element in ET.parse(aligned / "love.svg").iter()}
    assert any(re.fullmatch(r"rnn_bahdanau \(tiny\), step [1-9]\d*", text) for text in texts), texts
    assert {"source (en)", "target (de)", "weight", "love", "you", "."} <= texts


class _Links(HTMLParser):
    """Every href and src of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links |= {value for name, value in attrs if name in ("href", "src") and value}


def test_the_index_names_the_model_links_every_file_and_escapes_markup(aligned: Path) -> None:
    out = aligned / "out"
    page = (out / "index.html").read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(page)
    files = {path.name for path in out.iterdir()} - {"index.html"}
    assert parser.links == files
    assert files == {"0001.svg", "0002.svg", "0003.svg", "alignments.jsonl", "alignments.npz"}
    assert re.search(r"<title>Attention: rnn_bahdanau \(tiny\), step [1-9]\d*</title>", page)
    assert "&lt;b&gt;Tom&lt;/b&gt; &amp; &quot;Mary&quot;" in page and "<b>Tom" not in page
