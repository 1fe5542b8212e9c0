"""Fuzzing the doors numbers and text come in by: decoding options (library and command line), the
server's fields, input lines as random bytes and Unicode, numeric config overrides.

The property everywhere: a correct result with the right number of lines, or one clear message (an
``NmtError``, a non-zero exit, a 4xx with a detail) - never a traceback, never empty output on success.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import compose
from fastapi.testclient import TestClient
from helpers import run_cli
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf
from test_numbers import tiny_run  # noqa: F401 (the session's one tiny run)

from nmt.config_checks import check_training_config
from nmt.decoding.config import RANGES, DecodeConfig, option
from nmt.errors import NmtError
from nmt.serve.app import create_app
from nmt.serve.engine import Engine
from nmt.serve.limits import Limits
from nmt.translate import Translator

EDGES = [
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    5e-324,
    -0.0,
    0,
    -1,
    2**31,
    2**63,
    2**64,
    2**70,
    -(2**70),
]
NUMBERS = st.one_of(
    st.sampled_from(EDGES),
    st.integers(-3, 12),
    st.floats(-3, 12),
    st.floats(),  # NaN, infinities, subnormals, huge
    st.integers(-(2**80), 2**80),
)
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SENTENCES = ["A dog runs in the snow.", ""]


@pytest.fixture(scope="module")
def translator(tiny_run: Path) -> Translator:  # noqa: F811
    return Translator.from_run(tiny_run, "best", "cpu")


def assert_n_per_sentence(results: list[list], sentences: int, n: int) -> None:
    assert len(results) == sentences and all(len(nbest) == n for nbest in results), results


@FUZZ
@given(name=st.sampled_from(sorted(RANGES)), value=NUMBERS, sampling=st.booleans())
def test_every_decoding_option_gives_n_results_or_names_itself(
    translator: Translator, name: str, value: object, sampling: bool
) -> None:
    try:
        config = DecodeConfig(sampling=sampling, **{name: value})
    except NmtError as error:
        assert str(error).startswith((f"{option(name)} {value}: must be", "--nbest")), error
        return
    assert RANGES[name].contains(value)
    assert_n_per_sentence(translator.translate(SENTENCES, config), len(SENTENCES), config.nbest)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(RANGES)), text=st.one_of(NUMBERS.map(str), st.text(max_size=8)))
def test_the_command_line_parses_every_option_to_a_result_or_one_message(
    tiny_run: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
) -> None:
    status, out, err = run_cli(
        capsys, "translate", str(tiny_run), "A dog.", "--device", "cpu", f"{option(name)}={text}"
    )
    assert "Traceback" not in err
    if status == 0:
        assert len(out.splitlines()) == (int(text) if name == "nbest" else 1), out
    else:
        assert status in (1, 2) and out == "" and err.count("error:") == 1, err


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=60) | st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_input_bytes_give_exactly_n_lines_per_line_or_name_the_line(
    tiny_run: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    data: bytes,
) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(data)
    status, out, err = run_cli(
        capsys, "translate", str(tiny_run), "--input", str(source), "--nbest", "2", "--beam", "2"
    )
    lines = data.split(b"\n")
    lines = lines[:-1] if lines[-1] == b"" else lines
    if status == 0:
        numbers = [int(line.split("\t")[0]) for line in out.split("\n")[:-1]]
        assert numbers == [i for i in range(1, len(lines) + 1) for _ in range(2)], (data, out)
    else:
        assert status == 1 and out == "" and err.startswith(f"nmt translate: error: {source}:"), err


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentences=st.lists(st.text(max_size=30), min_size=1, max_size=4), n=st.integers(1, 3))
def test_random_unicode_sentences_give_exactly_n_translations_each(
    translator: Translator, sentences: list[str], n: int
) -> None:
    try:
        results = translator.translate(sentences, DecodeConfig(beam=n, nbest=n))
    except NmtError as error:  # a sentence longer than the model takes is named
        assert str(error), error
        return
    assert_n_per_sentence(results, len(sentences), n)


@pytest.fixture(scope="module")
def client(tiny_run: Path) -> Iterator[TestClient]:  # noqa: F811
    app = create_app([Engine.load("rnn", tiny_run, "cpu")], Limits(max_beam=8))
    with TestClient(app) as client:
        yield client


JUNK = st.one_of(NUMBERS, st.none(), st.booleans(), st.text(max_size=5))
NUMBER_FIELDS = ["beam", "nbest", "alpha", "temperature", "top_k", "top_p", "seed"]


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(NUMBER_FIELDS), JUNK, min_size=1))
def test_the_server_answers_every_number_with_n_translations_or_a_4xx(
    client: TestClient, fields: dict[str, object]
) -> None:
    # NaN and Infinity go as the literals JavaScript writes, which no strict JSON encoder sends
    body = json.dumps({"model": "rnn", "sentences": SENTENCES, **fields})
    response = client.post("/api/translate", content=body, headers={"Content-Type": "application/json"})
    if response.status_code == 200:
        nbest = response.json()["options"]["nbest"]
        assert [len(s["nbest"]) for s in response.json()["sentences"]] == [nbest] * len(SENTENCES)
    else:
        assert 400 <= response.status_code < 500 and response.json()["detail"], response.text


def numeric_keys(node: DictConfig, prefix: str = "") -> Iterator[str]:
    """The dotted keys of every int or float in ``node``."""
    for key, value in node.items():
        if isinstance(value, DictConfig):
            yield from numeric_keys(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield f"{prefix}{key}"


NUMERIC_KEYS = sorted(numeric_keys(compose()))


@settings(max_examples=10, deadline=None)
@given(key=st.sampled_from(NUMERIC_KEYS), value=NUMBERS)
def test_numeric_config_overrides_are_usable_or_named(key: str, value: object) -> None:
    try:
        cfg = compose(f"{key}={value}")
    except HydraException:  # a float for an integer key: Hydra's own one-line message
        return
    try:
        check_training_config(cfg)
    except NmtError as error:  # the key itself, or the key it must agree with, is named
        assert key.split(".")[-1] in str(error), error
        return
    given = OmegaConf.select(cfg, key)
    assert math.isfinite(given) if isinstance(given, float) else abs(given) < 2**63, (key, given)
