"""The explorer page in headless Chromium against the real server of conftest.py (tiny runs): both
readings with their rho, the textbook pair aligned as given, two models re-rendering together and
linked on hover, the checkpoint slider, and markup in a target shown as text. Skipped without
Debian's chromium (conftest.py's ``browser``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmt.serve.server import Server

sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")


@pytest.fixture
def page(browser: object, server: Server) -> object:
    """The explorer, loaded, with both models listed; page errors and dialogs are collected."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.problems = []
    page.on("dialog", lambda dialog: (page.problems.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.goto(server.url)
    page.wait_for_selector("#model-b option[value=transformer]", state="attached")
    yield page
    assert page.problems == []
    page.close()


def test_the_textbook_pair_with_both_readings_side_by_side(page: object) -> None:
    page.select_option("#method", "both")
    with page.expect_response("**/api/translate"):
        page.click("#textbook")
    assert (page.input_value("#sentences"), page.input_value("#target")) == ("I love you.", "Je t'aime.")
    rnn, transformer = page.locator(".panel[data-model=rnn]"), page.locator(".panel[data-model=transformer]")
    for panel in (rnn, transformer):
        panel.locator("figure[data-reading=saliency] svg.heatmap").wait_for()
        assert panel.locator(".nbest .hyp").all_text_contents() == ["Je t'aime."]  # as given
        assert panel.locator("svg.heatmap").count() == 2  # attention and saliency
        assert "Spearman ρ" in panel.locator("p.rho").inner_text()
    labels = rnn.locator("figure[data-reading=attention] text[data-side=tgt]").all_text_contents()
    assert labels == ["Je", "t'", "aime", "."]  # clitic and punctuation apart
    rnn.locator(".strip.src .word").nth(1).hover()  # "love": lit in the other panel too
    assert "active" in transformer.locator(".strip.src .word").nth(1).get_attribute("class")
    assert transformer.locator("svg.heatmap rect.focus").first.get_attribute("visibility") == "visible"

    asked: list[str] = []
    page.on(
        "request",
        lambda request: asked.append(request.post_data_json["model"]) if request.method == "POST" else 0,
    )
    page.select_option("#method", "attention")  # an option change: both panels ask again
    sync_api.expect(page.locator("svg.heatmap")).to_have_count(2)  # (the page allows no eval)
    assert sorted(asked) == ["rnn", "transformer"] and page.locator("p.rho").count() == 0

    page.fill("#target", "")
    page.fill("#beam", "2")  # n-best 3 > beam 2: a note, no request
    page.wait_for_timeout(500)
    assert "n-best 3 is larger than beam 2" in page.locator("#error").inner_text()


def test_the_checkpoint_slider_changes_the_matrix_and_a_png_downloads(page: object) -> None:
    page.select_option("#model-b", "transformer")
    page.fill("#sentences", "A man is walking.")
    with page.expect_response("**/api/translate"):
        page.click("#translate")
    rnn = page.locator(".panel[data-model=rnn]")
    page.locator(".panel[data-model=transformer] svg.heatmap").wait_for()  # both answers are in
    rnn.locator("svg.heatmap").wait_for()
    assert "one checkpoint" in page.locator(".panel[data-model=transformer] .checkpoints .note").inner_text()
    slider = rnn.locator("input.checkpoint")
    before = rnn.locator("rect.cell").evaluate_all("cells => cells.map(c => c.getAttribute('fill'))")
    with page.expect_response(lambda r: "checkpoint" in (r.request.post_data_json or {})) as answer:
        slider.evaluate("s => { s.value = 0; s.dispatchEvent(new Event('input', {bubbles: true})); }")
    assert answer.value.request.post_data_json["checkpoint"] == 10
    sync_api.expect(rnn.locator(".about")).to_contain_text("step 10")
    rnn.locator("svg.heatmap").wait_for()
    after = rnn.locator("rect.cell").evaluate_all("cells => cells.map(c => c.getAttribute('fill'))")
    assert after != before and rnn.locator(".checkpoints .step").inner_text() == "step 10"
    with page.expect_download() as download:
        rnn.locator(".downloads button", has_text="PNG").click()
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")


def test_markup_in_a_target_stays_text(page: object) -> None:
    markup = "<script>alert(1)</script> <img src=x onerror=alert(2)>"
    page.fill("#sentences", "I love you.")
    page.fill("#target", markup)
    page.select_option("#model-b", "")
    with page.expect_response("**/api/translate"):
        page.keyboard.press("Control+Enter")
    hyp = page.locator(".panel[data-model=rnn] .nbest .hyp")
    hyp.wait_for()
    assert hyp.inner_text() == markup
    assert page.locator("#results script, #results img").count() == 0
