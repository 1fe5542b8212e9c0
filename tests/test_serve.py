"""`nmt serve` end to end: tiny real runs (an RNN and a Transformer) trained with the real CLI, a real
uvicorn server on localhost (conftest.py's ``runs`` and ``server``), real HTTP clients, and the explorer
page in headless Chromium."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import REPO

pytest.importorskip("fastapi", reason="nmt serve needs the serve extra: pip install -e '.[serve]'")

from nmt.serve.server import Server
from nmt.translate import Translator

SENTENCES = [
    "A man is walking.",
    "Two dogs play in the snow.",
    "A little girl climbs into a wooden playhouse.",
    "I love you.",
    "A woman sings.",
    "The boy is running on the beach with his dog.",
    "People are sitting at tables.",
    "A red car.",
]


def translate(client: httpx.Client, **request: object) -> httpx.Response:
    return client.post("/api/translate", json={"model": "rnn", **request})


def assert_rows_sum_to_one(matrix: list[list[float]], rows: int, cols: int) -> None:
    assert len(matrix) == rows and all(len(row) == cols for row in matrix)
    for row in matrix:
        assert min(row) >= 0 and sum(row) == pytest.approx(1, abs=1e-3)


# ---------------------------------------------------------------------------------- the API
def test_health_and_models_describe_the_loaded_runs(client: httpx.Client, runs: dict[str, Path]) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["models"] == ["rnn", "transformer"] and health["batches"] >= 0
    rnn, transformer = client.get("/api/models").json()
    scores = json.loads((runs["rnn"] / "hyps" / "test.beam5.json").read_text())
    assert rnn["test_bleu"] == scores["bleu"]["score"]
    assert transformer["test_bleu"] is None  # never evaluated
    assert rnn["name"] == "rnn" and rnn["attention"] == "additive" and "RNN" in rnn["architecture"]
    assert (rnn["source_language"], rnn["target_language"], rnn["corpus"]) == ("en", "de", "multi30k_en_de")
    assert rnn["parameters"] == Translator.from_run(str(runs["rnn"]), device="cpu").model.num_parameters()
    assert (rnn["layers"], rnn["heads"], rnn["attention_map"]) == (1, 1, {"layer": 0, "head": "mean"})
    assert transformer["architecture"] == "Transformer" and (transformer["layers"], transformer["heads"]) == (
        2,
        2,
    )
    assert transformer["attention_map"] == {"layer": 1, "head": "mean"}  # align_layer -1, mean of heads


def test_translate_gives_nbest_lists_with_word_attention_like_the_library(
    client: httpx.Client, runs: dict[str, Path]
) -> None:
    response = translate(client, sentences=SENTENCES[:3], beam=4, nbest=3, punctuation=False)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "rnn" and body["options"]["beam"] == 4
    expected = Translator.from_run(str(runs["rnn"]), device="cpu").translate(SENTENCES[:3], beam=4, nbest=3)
    for sentence, source, library in zip(body["sentences"], SENTENCES[:3], expected, strict=True):
        assert sentence["source"] == source and len(sentence["nbest"]) == 3
        assert [h["translation"] for h in sentence["nbest"]] == [t.text for t in library]
        scores = [h["score"] for h in sentence["nbest"]]
        assert scores == sorted(scores, reverse=True)
        assert scores == pytest.approx([t.score for t in library], abs=1e-4)
        for hyp in sentence["nbest"]:
            assert "attention" not in hyp and "src_tokens" not in hyp  # pieces only on request
            assert hyp["src_words"] == source.split()  # no clitics or punctuation split in English here
            assert_rows_sum_to_one(hyp["word_attention"], len(hyp["tgt_words"]), len(hyp["src_words"]))


def test_pieces_on_request_rows_sum_to_one(client: httpx.Client) -> None:
    hyp = translate(client, sentences=["I love you."], pieces=True, punctuation=True).json()
    hyp = hyp["sentences"][0]["nbest"][0]
    assert hyp["src_tokens"][-1] == hyp["tgt_tokens"][-1] == "</s>"
    assert_rows_sum_to_one(hyp["attention"], len(hyp["tgt_tokens"]), len(hyp["src_tokens"]))
    assert hyp["src_words"] == ["I", "love", "you", "."]  # punctuation apart


def test_transformer_layer_and_head_choose_the_map_and_the_mean_averages_the_heads(
    client: httpx.Client,
) -> None:
    def pieces(**choice: object) -> dict:
        response = client.post(
            "/api/translate",
            json={"model": "transformer", "sentences": ["Two dogs play."], "pieces": True, **choice},
        )
        assert response.status_code == 200, response.text
        return response.json()

    default = pieces()
    assert (default["options"]["layer"], default["options"]["head"]) == (1, "mean")
    heads = [pieces(layer=0, head=h) for h in (0, 1)]
    mean = pieces(layer=-2, head="mean")  # the first of two layers, counted from the end
    assert mean["options"]["layer"] == 0 and heads[1]["options"]["head"] == 1
    maps = [r["sentences"][0]["nbest"][0] for r in (*heads, mean, default)]
    assert len({m["translation"] for m in maps}) == 1  # the map shown never changes the translation
    for row0, row1, row_mean in zip(
        maps[0]["attention"], maps[1]["attention"], maps[2]["attention"], strict=True
    ):
        assert row_mean == pytest.approx([(a + b) / 2 for a, b in zip(row0, row1, strict=True)], abs=2e-4)
    assert maps[2]["attention"] != maps[3]["attention"]  # layer 0 is not layer 1


def test_bad_requests_get_422_with_a_message(client: httpx.Client) -> None:
    cases = [
        ({"model": "rnn", "sentences": ["x"], "nbest": 6, "beam": 5}, "nbest 6 is larger than beam 5"),
        ({"model": "rnn", "sentences": ["x"], "beam": 9}, "max_beam = 8"),
        ({"model": "rnn", "sentences": ["x"], "beam": 0}, "beam 0: must be a whole number in [1, 1024]"),
        ({"model": "rnn", "sentences": []}, "body.sentences"),
        ({"model": "rnn", "sentences": "x"}, "body.sentences"),
        ({"model": "rnn"}, "body.sentences: Field required"),
        ({"model": "rnn", "sentences": ["x"], "path": "/etc"}, "body.path: Extra inputs are not permitted"),
        ({"model": "rnn", "sentences": ["x"], "head": 1}, "head 1: rnn has 1 attention head"),
        (
            {"model": "transformer", "sentences": ["x"], "layer": 2},
            "layer 2: transformer has 2 decoder layer",
        ),
        ({"model": "transformer", "sentences": ["x"], "head": "max"}, "body.head"),
    ]
    for request, message in cases:
        response = client.post("/api/translate", json=request)
        assert response.status_code == 422, (request, response.text)
        assert message in response.json()["detail"], (request, response.text)


def test_malformed_json_gets_422_and_an_unknown_model_404(client: httpx.Client) -> None:
    response = client.post("/api/translate", content=b'{"model": "rnn", "sentences": [', headers=JSON)
    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]
    response = client.post("/api/translate", content=b"\xff\xfe", headers=JSON)
    assert response.status_code == 422, response.text
    response = client.post("/api/translate", json={"model": "../rnn", "sentences": ["x"]})
    assert response.status_code == 404
    assert response.json()["detail"] == "unknown model '../rnn'; loaded: rnn, transformer"
    assert client.get("/api/nothing").status_code == 404


JSON = {"Content-Type": "application/json"}


def test_requests_over_a_limit_get_413_naming_it(client: httpx.Client) -> None:
    over = [
        ({"sentences": ["x"] * 21}, "max_sentences", 20),
        ({"sentences": ["ok", "y" * 301]}, "max_chars", 300),
    ]
    for request, limit, allowed in over:
        response = translate(client, **request)
        assert response.status_code == 413, response.text
        assert response.json()["limit"] == limit and response.json()["allowed"] == allowed
        assert limit in response.json()["detail"]
    body = json.dumps({"model": "rnn", "sentences": ["z" * 200] * 200}).encode()
    for sent in (body, iter([body[:1000], body[1000:]])):  # a Content-Length, then chunks without one
        response = client.post("/api/translate", content=sent, headers=JSON)
        assert response.status_code == 413, response.text
        assert response.json()["limit"] == "max_body_bytes"
    assert translate(client, sentences=["y" * 300] + ["x"] * 19, beam=1).status_code == 200  # at the limits


def test_empty_sentences_give_empty_translations(client: httpx.Client) -> None:
    response = translate(client, sentences=["", "A dog."])
    assert response.status_code == 200, response.text
    empty, full = response.json()["sentences"]
    assert empty["nbest"][0]["translation"] == "" and empty["nbest"][0]["word_attention"] == []
    assert full["nbest"][0]["translation"]


def test_concurrent_requests_are_batched_and_answered_as_one_at_a_time(
    client: httpx.Client, server: Server
) -> None:
    requests = [{"sentences": [s], "beam": 3} for s in SENTENCES] * 2  # 16 requests
    alone = [translate(client, **r).json() for r in requests[:8]] * 2
    before = client.get("/healthz").json()["batches"]
    with ThreadPoolExecutor(len(requests)) as pool:
        together = list(pool.map(lambda r: translate(client, **r), requests))
    assert all(r.status_code == 200 for r in together), [r.text for r in together]
    for one, many in zip(alone, together, strict=True):
        hyp, other = one["sentences"][0]["nbest"][0], many.json()["sentences"][0]["nbest"][0]
        assert other["translation"] == hyp["translation"]
        assert other["score"] == pytest.approx(hyp["score"], abs=1e-4)
        flat = [w for row in other["word_attention"] for w in row]
        assert flat == pytest.approx([w for row in hyp["word_attention"] for w in row], abs=1e-3)
    assert client.get("/healthz").json()["batches"] - before < len(requests)  # some shared a model call


def test_a_failing_model_call_fails_its_request_not_the_server(
    client: httpx.Client, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*_: object) -> None:
        raise RuntimeError("simulated: out of memory")

    engine = server.config.app.state.engines["rnn"]
    monkeypatch.setattr(engine, "translate", out_of_memory)
    response = translate(client, sentences=["A dog."])
    assert response.status_code == 500 and "out of memory" in response.json()["detail"]
    monkeypatch.undo()
    assert translate(client, sentences=["A dog."]).status_code == 200


def test_the_page_and_its_files_are_served_with_a_strict_content_policy(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in ("explorer.js", "explorer.css"):
        assert f"/static/{name}" in page.text
        assert client.get(f"/static/{name}").status_code == 200
    static = REPO / "nmt" / "serve" / "static"
    for path in static.iterdir():  # no CDN: nothing is loaded from elsewhere
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
    assert "innerHTML" not in (static / "explorer.js").read_text(encoding="utf-8")
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/api/translate", "/api/models", "/healthz"}
    assert client.get("/docs").status_code == 200


def test_the_wheel_ships_the_explorer_files(tmp_path: Path) -> None:
    """`pip install .` puts the page next to the code (package data), not only this checkout."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(tmp_path),
    ]
    subprocess.run([*command, str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("nmt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"nmt/serve/static/{name}" for name in ("index.html", "explorer.js", "explorer.css")} <= names


# ------------------------------------------------------------------------------ the command
def test_nmt_serve_says_where_to_open_it_and_stops_cleanly_on_ctrl_c(runs: dict[str, Path]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "nmt.cli", "serve", str(runs["rnn"]), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert lines[0] == "nmt serve: rnn\n", (lines, process.stderr.read() if process.poll() else "")
        assert lines[1].startswith("open http://127.0.0.1:")
        url = lines[1].split()[1]
        assert httpx.get(f"{url}healthz").json()["status"] == "ok"
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        process.kill()
    out, err = process.communicate()
    assert out == "nmt serve: stopped\n" and "Traceback" not in err, err


def test_nmt_serve_refuses_a_missing_run_and_a_busy_port(runs: dict[str, Path], server: Server) -> None:
    for args, message in (
        (["/no/such/run"], "nmt serve: error: /no/such/run: no such run directory"),
        ([str(runs["rnn"]), "--port", server.url.rsplit(":", 1)[1].strip("/")], "cannot serve on 127.0.0.1:"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "nmt.cli", "serve", *args], capture_output=True, text=True
        )
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------------- the explorer page
def test_explorer_translates_draws_links_on_hover_and_shows_markup_as_text(
    browser: object, server: Server, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url)
    page.wait_for_selector("#model-a option[value=transformer]", state="attached")
    assert page.input_value("#model-a") == "rnn" and page.input_value("#model-b") == "transformer"

    page.click("#example")  # "I love you." in one click, with both models side by side
    page.wait_for_selector(".panel[data-model=transformer] svg.heatmap")
    page.wait_for_selector(".panel[data-model=rnn] svg.heatmap")
    assert page.input_value("#sentences") == "I love you."
    rnn = page.locator(".panel[data-model=rnn]")
    assert rnn.locator(".source").inner_text() == "I love you."
    assert rnn.locator(".nbest li").count() == 3 and rnn.locator(".nbest .hyp").first.inner_text().strip()
    svg = rnn.locator("svg.heatmap")
    assert svg.locator("text[data-side=src]").all_text_contents() == ["I", "love", "you", "."]
    target_words = svg.locator("text[data-side=tgt]").count()
    assert svg.locator("rect.cell").count() == 4 * target_words

    svg.locator("text[data-side=tgt]").first.hover()  # a target word shows the source words it attends to
    assert "active" in svg.locator("text[data-side=tgt]").first.get_attribute("class")
    assert svg.locator("text[data-side=src].linked").count() >= 1
    assert rnn.locator(".strip.src .word.linked").count() >= 1
    assert svg.locator("rect.focus").get_attribute("visibility") == "visible"
    rnn.locator(".strip.src .word").nth(1).hover()  # and a source word the target words attending to it
    assert "active" in rnn.locator(".strip.src .word").nth(1).get_attribute("class")
    assert svg.locator("text[data-side=tgt].linked").count() >= 1
    assert svg.locator("text[data-side=src].linked").count() == 0
    page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)

    transformer = page.locator(".panel[data-model=transformer]")
    with page.expect_response("**/api/translate"):
        transformer.locator("select.head").select_option("1")  # another head: that panel asks again
    transformer.locator("svg.heatmap").wait_for()
    with page.expect_download() as download:
        transformer.locator(".downloads button", has_text="JSON").click()
    saved = json.loads(Path(download.value.path()).read_text())
    assert (saved["layer"], saved["head"], saved["source"]) == (1, 1, "I love you.")
    assert all(sum(row) == pytest.approx(1, abs=1e-3) for row in saved["attention"])
    with page.expect_download() as download:
        transformer.locator(".downloads button", has_text="SVG").click()
    assert Path(download.value.path()).read_text().startswith('<svg xmlns="http://www.w3.org/2000/svg"')

    page.check("#subwords")  # pieces, with </s>, drawn from the same answer
    assert svg.locator("text[data-side=src]").last.text_content() == "</s>"

    markup = "<script>alert(1)</script> <img src=x onerror=alert(2)>"
    page.fill("#sentences", markup)
    with page.expect_response("**/api/translate"):
        page.click("#translate")
    rnn.locator("svg.heatmap").wait_for()
    page.wait_for_timeout(300)
    assert rnn.locator(".source").inner_text() == markup  # shown literally
    assert page.locator("#results script, #results img").count() == 0
    assert alerts == [] and errors == []
    page.screenshot(path=str(tmp_path / "markup.png"))
    assert (tmp_path / "explorer.png").read_bytes().startswith(b"\x89PNG")
