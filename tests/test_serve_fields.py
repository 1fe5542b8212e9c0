"""`POST /api/translate`'s reading fields (method, target, prefix, sampling, checkpoint) and
`GET /api/checkpoints`, on a real server on localhost (conftest.py's tiny ``runs`` and ``server``):
each answer compared with the library that `nmt align` uses, each bad value refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="nmt serve needs the serve extra: pip install -e '.[serve]'")

from nmt.alignment.agreement import spearman
from nmt.alignment.reread import read_again
from nmt.alignment.words import word_alignment
from nmt.serve.server import Server
from nmt.serve.snapshots import Snapshots
from nmt.translate import Translator

SENTENCES = ["I love you.", "Two dogs play in the snow."]


def translate(client: httpx.Client, **request: object) -> dict:
    response = client.post("/api/translate", json={"model": "rnn", **request})
    assert response.status_code == 200, response.text
    return response.json()


def refused(client: httpx.Client, status: int, **request: object) -> dict:
    response = client.post("/api/translate", json={"model": "rnn", **request})
    assert response.status_code == status, (request, response.text)
    return response.json()


def flat(matrix: list[list[float]]) -> list[float]:
    return [weight for row in matrix for weight in row]


def rows_sum_to_one(matrix: list[list[float]], rows: int, cols: int) -> bool:
    return len(matrix) == rows and all(
        len(row) == cols and min(row) >= 0 and sum(row) == pytest.approx(1, abs=1e-3) for row in matrix
    )


@pytest.fixture(scope="module")
def translator(runs: dict[str, Path]) -> Translator:
    return Translator.from_run(str(runs["rnn"]), device="cpu")


def test_both_gives_attention_saliency_and_rho_as_nmt_align_computes_them(
    client: httpx.Client, translator: Translator
) -> None:
    both = translate(client, sentences=SENTENCES[:1], method="both", pieces=True)
    alone = translate(client, sentences=SENTENCES[:1], method="saliency")
    for sentence, only, source in zip(both["sentences"], alone["sentences"], SENTENCES[:1], strict=True):
        (hyp,), (only_hyp,) = sentence["nbest"], only["nbest"]
        shape = len(hyp["tgt_words"]), len(hyp["src_words"])
        assert rows_sum_to_one(hyp["word_attention"], *shape)
        assert rows_sum_to_one(hyp["word_saliency"], *shape)
        assert rows_sum_to_one(hyp["saliency"], len(hyp["tgt_tokens"]), len(hyp["src_tokens"]))
        assert "word_attention" not in only_hyp and "rho" not in only_hyp  # saliency alone
        assert only_hyp["word_saliency"] == hyp["word_saliency"]  # the same draws, batched or not
        (best,) = translator.translate([source], beam=5)[0]
        assert hyp["translation"] == best.text
        readings = [read_again(translator.run, [best], name)[0] for name in ("attention", "saliency")]
        words = [word_alignment(t).matrix for t in readings]
        assert flat(hyp["word_saliency"]) == pytest.approx(words[1].ravel().tolist(), abs=1e-4)
        assert hyp["rho"] == pytest.approx(spearman(*words), abs=1e-4)
        assert -1 <= hyp["rho"] <= 1


def test_a_given_target_is_aligned_as_given_under_teacher_forcing(
    client: httpx.Client, translator: Translator
) -> None:
    targets = ["Ich liebe dich.", "Zwei Hunde spielen im Schnee."]
    body = translate(client, sentences=SENTENCES, target=targets, method="both", punctuation=False)
    assert body["options"]["aligned"] is True
    library = translator.score(SENTENCES, targets)
    for sentence, target, forced in zip(body["sentences"], targets, library, strict=True):
        (hyp,) = sentence["nbest"]
        assert hyp["translation"] == target and hyp["tgt_words"] == target.split()
        assert hyp["log_prob"] == pytest.approx(forced.log_prob, abs=1e-4)
        assert rows_sum_to_one(hyp["word_saliency"], len(hyp["tgt_words"]), len(hyp["src_words"]))
    attention = translate(client, sentences=SENTENCES[:1], target=targets[:1])["sentences"][0]["nbest"][0]
    expected = word_alignment(library[0]).matrix.ravel().tolist()
    assert flat(attention["word_attention"]) == pytest.approx(expected, abs=1e-4)


def test_a_prefix_starts_every_translation_and_sampling_is_reproducible(client: httpx.Client) -> None:
    body = translate(client, sentences=SENTENCES, prefix="Ein Hund", beam=3, nbest=2)
    for sentence in body["sentences"]:
        assert all(hyp["translation"].startswith("Ein Hund") for hyp in sentence["nbest"])
    request = {"sentences": SENTENCES, "sample": True, "nbest": 4, "beam": 1, "temperature": 1.5, "seed": 7}
    first, again = translate(client, **request), translate(client, **request)
    assert first["sentences"] == again["sentences"] and first["options"]["sample"] is True
    assert all(len(s["nbest"]) == 4 for s in first["sentences"])  # more samples than beams
    alone = translate(client, **{**request, "sentences": SENTENCES[1:]})
    assert alone["sentences"][0] == first["sentences"][1]  # a sentence's samples: its own and the seed
    other = translate(client, **{**request, "seed": 8, "top_k": 5, "top_p": 0.9})
    assert other["sentences"] != first["sentences"]


def test_each_bad_value_is_refused_by_name(client: httpx.Client, server: Server) -> None:
    cases = [
        ({"target": ["Ich liebe dich."]}, "target: one translation per sentence: 2 sentence(s), 1 given"),
        ({"target": ["Ich liebe dich.", "  "]}, "target: translation 2 is empty"),
        ({"target": ["a", "b"], "prefix": "Ein"}, "target and prefix"),
        ({"target": ["a", "b"], "nbest": 2}, "target: a given translation is aligned as it is"),
        ({"prefix": "\u2603\u2603"}, "prefix '\u2603\u2603': the target vocabulary cannot encode it"),
        ({"prefix": ""}, "body.prefix"),
        ({"nbest": 6, "beam": 5}, "nbest 6 is larger than beam 5"),
        ({"nbest": 9, "sample": True}, "nbest 9 is larger than the limit max_beam = 8"),
        ({"sample": True, "temperature": 0}, "temperature 0.0: must be"),
        ({"sample": True, "top_p": 0}, "top_p 0.0: must be"),
        ({"top_k": -1}, "top_k -1: must be"),
        ({"method": "gradients"}, "body.method"),
        ({"checkpoint": 11}, "checkpoint 11: rnn has checkpoints at steps 10, "),
    ]
    for request, message in cases:
        detail = refused(client, 422, sentences=SENTENCES, **request)["detail"]
        assert message in detail, (request, detail)
    empty_source = refused(client, 422, sentences=["", "x"], target=["a", "b"])["detail"]
    assert "sentences: sentence 1 is empty" in empty_source
    model = server.config.app.state.engines["rnn"].translator.model
    model.has_saliency = False  # as an ensemble declares
    try:
        detail = refused(client, 422, sentences=SENTENCES, method="both")["detail"]
    finally:
        del model.has_saliency
    assert detail == "method both: rnn cannot compute gradient saliency; use method attention"


def test_limits_hold_for_the_new_fields(client: httpx.Client) -> None:
    body = refused(client, 413, sentences=["a", "b", "c"], nbest=3, method="saliency")
    assert (body["limit"], body["allowed"]) == ("max_saliency_sentences", 8)
    assert "saliency of 9 translations (3 sentences x nbest 3)" in body["detail"]
    assert translate(client, sentences=["a", "b"], nbest=4, method="attention")  # attention is not limited
    for request in ({"target": ["x", "y" * 301]}, {"prefix": "y" * 301}):
        body = refused(client, 413, sentences=["a", "b"], **request)
        assert body["limit"] == "max_chars" and "301 characters" in body["detail"]
    large = json.dumps({"model": "rnn", "sentences": ["a"], "target": ["z" * 40_000]})
    response = client.post("/api/translate", content=large, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["limit"] == "max_body_bytes"


def test_checkpoints_are_listed_and_a_snapshot_aligns_a_sentence(
    client: httpx.Client, runs: dict[str, Path]
) -> None:
    listed = client.get("/api/checkpoints", params={"model": "rnn"}).json()
    assert {10, 20, 30} <= set(listed["steps"]) and listed["served"] in listed["steps"]
    assert listed["steps"] == sorted(listed["steps"]) and listed["note"] is None
    one = client.get("/api/checkpoints", params={"model": "transformer"}).json()
    assert len(one["steps"]) == 1 and "one checkpoint" in one["note"] and "trainer.save_every" in one["note"]
    assert client.get("/api/checkpoints", params={"model": "nope"}).status_code == 404
    early = translate(client, sentences=SENTENCES[:1], checkpoint=10)
    assert early["checkpoint"] == 10
    library = Translator.from_run(str(runs["rnn"]), str(runs["rnn"] / "step_10.pt"), "cpu")
    (best,) = library.translate(SENTENCES[:1], beam=5)[0]
    hyp = early["sentences"][0]["nbest"][0]
    assert hyp["translation"] == best.text
    expected = word_alignment(best).matrix.ravel().tolist()
    assert flat(hyp["word_attention"]) == pytest.approx(expected, abs=1e-4)
    served = translate(client, sentences=SENTENCES[:1], checkpoint=listed["served"])
    assert served["checkpoint"] == listed["served"] == translate(client, sentences=["x"])["checkpoint"]
    assert served["sentences"] != early["sentences"]


def test_snapshots_are_loaded_once_and_the_least_recently_used_let_go(server: Server) -> None:
    engines = server.config.app.state.engines
    snapshots = Snapshots(engines, keep=1)
    served = engines["rnn"].translator.run.step
    assert snapshots.engine("rnn", None) is snapshots.engine("rnn", served) is engines["rnn"]
    first, second = [step for step in sorted(snapshots.paths("rnn")) if step != served][:2]
    early = snapshots.engine("rnn", first)
    assert (early.name, early.translator.run.step) == (f"rnn@{first}", first)
    assert snapshots.engine("rnn", first) is early  # loaded once
    assert snapshots.engine("rnn", second).translator.run.step == second  # lets the first go
    assert snapshots.engine("rnn", first) is not early
