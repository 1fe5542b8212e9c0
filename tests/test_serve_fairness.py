"""Fair serving: a large request is translated in bounded batches interleaved with other requests, so
a small request never waits behind all of it; a deeply nested JSON body is refused by name."""

from __future__ import annotations

import asyncio
import time

from helpers import EchoEngine
from hypothesis import given, settings
from hypothesis import strategies as st

from nmt.serve.batching import Batcher


async def heavy_then_light(batcher: Batcher, engine: EchoEngine) -> tuple[float, float, list, list]:
    """One request of 64 x 1,000 characters, then, once it runs, one of a short sentence: when each ends."""
    batcher.start()
    try:
        start = time.perf_counter()
        heavy = asyncio.create_task(
            batcher.translate(engine, [f"{i:04d}" + "x" * 996 for i in range(64)], None)
        )
        await asyncio.sleep(0.05)  # the heavy request is being translated
        light = await batcher.translate(engine, ["hello"], None)
        light_end = time.perf_counter() - start
        heavy_result = await heavy
        return light_end, time.perf_counter() - start, light, heavy_result
    finally:
        await batcher.stop()


def test_a_small_request_waits_for_one_bounded_batch_not_for_a_large_request() -> None:
    engine = EchoEngine(seconds_per_character=1e-4)
    light_end, heavy_end, light, heavy = asyncio.run(heavy_then_light(Batcher(max_chars=2000), engine))
    assert light == [[{"translation": "hello"}]]
    assert [r[0]["translation"][:4] for r in heavy] == [f"{i:04d}" for i in range(64)]  # all, in order
    assert all(sum(map(len, call)) <= 2000 or len(call) == 1 for call in engine.calls)
    assert ["hello"] in [[s for s in call if s == "hello"] for call in engine.calls]
    assert light_end < heavy_end / 4  # the heavy request takes ~6.4 s of model time, the light ~0.2 s


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.text(min_size=0, max_size=30), min_size=0, max_size=12), min_size=1, max_size=6))
def test_every_request_gets_exactly_its_own_translations_in_order(requests: list[list[str]]) -> None:
    async def run_all() -> list:
        batcher, engine = Batcher(max_sentences=5, max_chars=40), EchoEngine()
        batcher.start()
        try:
            results = await asyncio.gather(*(batcher.translate(engine, r, None) for r in requests))
        finally:
            await batcher.stop()
        assert all(len(call) <= 5 and (sum(map(len, call)) <= 40 or len(call) == 1) for call in engine.calls)
        return results

    results = asyncio.run(run_all())
    assert results == [[[{"translation": s}] for s in request] for request in requests]


def test_a_deeply_nested_json_body_is_refused_naming_the_limit() -> None:
    from fastapi.testclient import TestClient

    from nmt.serve.app import create_app
    from nmt.serve.limits import Limits

    with TestClient(create_app([])) as client:
        deep = client.post("/api/translate", content=b"[" * 100_000 + b"]" * 100_000)
        assert deep.status_code == 413
        assert deep.json()["limit"] == "max_json_depth" and deep.json()["allowed"] == Limits().max_json_depth
        assert "nests too deeply (limit max_json_depth = 16)" in deep.json()["detail"]
        # brackets inside strings are text, and a shallow body reaches the app (here: 404, no such model)
        shallow = client.post("/api/translate", json={"model": "none", "sentences": ["[" * 5000]})
        assert shallow.status_code == 404 and "max_json_depth" not in shallow.text


@given(
    st.recursive(
        st.none() | st.text(alphabet='[]{}"\\\\ab', max_size=5),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=3), c),
    )
)
def test_json_depth_is_the_nesting_of_arrays_and_objects(value: object) -> None:
    import json

    from nmt.serve.limits import json_depth

    def depth(v: object) -> int:
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        return 0 if children is None else 1 + max(map(depth, children), default=0)

    assert json_depth(json.dumps(value).encode()) == depth(value)
