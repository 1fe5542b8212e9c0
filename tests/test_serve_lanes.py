"""Two lanes: a short sentence is answered while a long sentence's model call is in flight, whatever
that call takes; a request split between the lanes gets its own answers in order; and one loaded
model is shared by the calls that read it, a call that changes it (another attention map, saliency)
has it alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from helpers import EchoEngine
from hypothesis import given, settings
from hypothesis import strategies as st
from test_numbers import tiny_run  # noqa: F401 (the session's one tiny run)

from nmt.rundir import Run, load_run
from nmt.serve.app import create_app
from nmt.serve.batching import Batcher
from nmt.serve.engine import Engine, Input, Options
from nmt.serve.users import Users
from nmt.translate import Translation, Translator

# long by its characters, as the batcher counts them, but quick to decode: the test holds its model call
LONG = "A man is walking." + " " * 300
SHORT = "Two dogs play in the snow."


class HeldTranslator(Translator):
    """The run's translator, whose searches with a sentence over 250 characters wait for ``release``
    (``holding`` while they wait, ``finished`` once they return)."""

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self.holding, self.release, self.finished = threading.Event(), threading.Event(), threading.Event()

    def translate(self, sentences: Sequence[str], *args: Any, **kwargs: Any) -> list[list[Translation]]:
        if not any(len(s) > 250 for s in sentences):
            return super().translate(sentences, *args, **kwargs)
        self.holding.set()
        self.release.wait(30)
        try:
            return super().translate(sentences, *args, **kwargs)
        finally:
            self.finished.set()


def test_a_short_request_is_answered_while_a_long_sentence_is_being_translated(tiny_run: Path) -> None:  # noqa: F811
    run = load_run(tiny_run, "best", "cpu")
    held = HeldTranslator(run)
    alone = Engine("rnn", Translator(run))  # the same model, called directly: what each answer must be
    expected = [alone.translate([Input(s)], Options(beam=1))[0][0]["translation"] for s in (LONG, SHORT)]
    with TestClient(create_app([Engine("rnn", held)])) as client, ThreadPoolExecutor(1) as pool:
        try:
            mixed = pool.submit(
                client.post, "/api/translate", json={"model": "rnn", "sentences": [LONG, SHORT], "beam": 1}
            )
            assert held.holding.wait(30), "the long sentence's model call did not start"
            short = client.post("/api/translate", json={"model": "rnn", "sentences": [SHORT], "beam": 1})
            assert not held.finished.is_set()  # answered while the long sentence's model call is held
        finally:
            held.release.set()
        answers = [s["nbest"][0]["translation"] for s in mixed.result().json()["sentences"]]
    assert short.status_code == 200 and short.json()["sentences"][0]["nbest"][0]["translation"] == expected[1]
    assert answers == expected  # the request split between the lanes, answered whole and in order


def test_reading_calls_share_the_model_and_a_changing_call_has_it_alone() -> None:
    users, order = Users(), []
    left, entered = threading.Event(), threading.Event()

    def use(how: str, name: str, holding: threading.Event | None = None) -> None:
        with getattr(users, how)():
            order.append(name)
            entered.set()
            if holding is not None:
                holding.wait(10)

    def start(*args: object) -> threading.Thread:
        thread = threading.Thread(target=use, args=args)
        thread.start()
        return thread

    with users.reading():
        start("reading", "second reader").join(10)  # shares the model: done while the first still reads
        assert order == ["second reader"]
        entered.clear()
        changer = start("changing", "changer", left)
        assert not entered.wait(0.2)  # waits for the reading call in flight
    assert entered.wait(10) and order == ["second reader", "changer"]
    late = start("reading", "late reader")
    late.join(0.2)
    assert late.is_alive() and len(order) == 2  # waits for the changing call
    left.set()
    changer.join(10)
    late.join(10)
    assert order == ["second reader", "changer", "late reader"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.text("ab", max_size=12), max_size=8), min_size=1, max_size=5))
def test_every_request_split_between_the_lanes_gets_its_own_translations_in_order(
    requests: list[list[str]],
) -> None:
    async def run_all(batcher: Batcher, engine: EchoEngine) -> list:
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.translate(engine, r, None) for r in requests))
        finally:
            await batcher.stop()

    engine = EchoEngine()
    results = asyncio.run(run_all(Batcher(max_sentences=3, max_chars=20, short_chars=5), engine))
    assert results == [[[{"translation": s}] for s in request] for request in requests]
    assert all(len({len(s) <= 5 for s in call}) == 1 for call in engine.calls)  # one lane's sentences
