"""Shared fixtures: the real corpora mirror, and small real training sets cut from it."""

from __future__ import annotations

import functools
import gzip
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("NMT_DATA_DIR", REPO.parent / "shared" / "data")).resolve()

# Two cores in all: 2 threads, or under `pytest -n 2` (make test) 1 per worker and per `nmt` process
# the worker starts.
THREADS = 2
if os.environ.get("PYTEST_XDIST_WORKER"):
    THREADS = 1
    os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(min(THREADS, torch.get_num_threads()))

# Every test (and every `nmt` process a test starts) reads corpora from the mirror and never
# writes into the repository's data/ cache.
os.environ["NMT_DATA_DIR"] = str(DATA_DIR)
os.environ["NMT_CACHE_DIR"] = tempfile.mkdtemp(prefix="nmt-cache-")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline mirror of real corpora (``$NMT_DATA_DIR``, default ``../shared/data``)."""
    if not (DATA_DIR / "multi30k").is_dir():
        pytest.fail(f"corpus mirror not found at {DATA_DIR}; set NMT_DATA_DIR")
    return DATA_DIR


MODEL_CONFIGS = sorted(p.stem for p in (REPO / "configs" / "model").glob("*.yaml"))
TINY_MODEL = {  # overrides that shrink each family to seconds of CPU time
    "rnn": ["model.emb_dim=16", "model.hidden_dim=32", "model.attn_dim=16"],
    "transformer": [
        "model.d_model=32",
        "model.heads=2",
        "model.ffn_dim=64",
        "model.enc_layers=2",
        "model.dec_layers=2",
    ],
}


def compose(*overrides: str):
    """The run config that `nmt train OVERRIDES...` would see."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from nmt.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


@functools.cache
def tiny_model_config(name: str):
    """The model config ``name`` (configs/model/NAME.yaml) with tiny dimensions (composed once:
    callers must not change it)."""
    arch = compose(f"model={name}").model.arch
    return compose(f"model={name}", *TINY_MODEL[arch]).model


@pytest.fixture(scope="module")
def real_pairs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """200 real Multi30k en-de pairs encoded with a real sentencepiece model trained on them."""
    from nmt.config import SubwordConfig
    from nmt.data.vocab import Vocab, train_vocab

    with (
        gzip.open(data_dir / "multi30k/train.en.gz", "rt") as en,
        gzip.open(data_dir / "multi30k/train.de.gz", "rt") as de,
    ):
        pairs = [(s.strip(), t.strip()) for s, t, _ in zip(en, de, range(200), strict=False)]
    path = tmp_path_factory.mktemp("spm") / "spm.model"
    train_vocab([side for pair in pairs for side in pair], path, SubwordConfig(vocab_size=300))
    vocab = Vocab(path)
    return vocab, vocab.encode([s for s, _ in pairs]), vocab.encode([t for _, t in pairs])


# ------------------------------------------------------------------------------------- serving
SERVE_DATA = [
    "data=multi30k_en_de",
    "trainer=tiny",
    "data.train.max_pairs=300",
    "data.valid.max_pairs=40",
    "data.test.max_pairs=20",
    "data.spm.vocab_size=400",
]
SERVE_LIMITS = {"max_body_bytes": 32 * 1024, "max_sentences": 20, "max_chars": 300, "max_beam": 8}


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny RNN (with its test BLEU written by `nmt evaluate`, and snapshots at steps 10, 20 and 30)
    and a tiny 2-layer, 2-head Transformer (one checkpoint), trained once per session with the real CLI."""
    from helpers import built_once

    root = built_once(tmp_path_factory, "serve-runs", "serve-runs", _train_serve_runs)
    return {"rnn": root / "rnn", "transformer": root / "transformer"}


def _train_serve_runs(root: Path) -> None:
    """Train the two runs of ``runs`` side by side into ``root``."""
    rnn, transformer = root / "rnn", root / "transformer"
    nmt = [sys.executable, "-m", "nmt.cli"]
    snapshots = ["trainer.save_every=10", "trainer.keep_last=3"]
    trainings = [
        subprocess.Popen(
            [*nmt, "train", *SERVE_DATA, *model, f"run_dir={run}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for run, model in (
            (rnn, ["model=rnn_bahdanau", *TINY_MODEL["rnn"], *snapshots]),
            (transformer, ["model=transformer", *TINY_MODEL["transformer"]]),
        )
    ]
    for process in trainings:
        _, stderr = process.communicate()
        assert process.returncode == 0, stderr.decode()
    subprocess.run(
        [*nmt, "evaluate", str(rnn), "--split", "test", "--beam", "5"], check=True, capture_output=True
    )


@pytest.fixture(scope="session")
def server(runs: dict[str, Path]) -> Iterator:
    """A real uvicorn server of both ``runs`` (SERVE_LIMITS) on a free localhost port, in a thread."""
    from nmt.serve.app import create_app
    from nmt.serve.engine import load_engines
    from nmt.serve.limits import Limits

    with served(create_app(load_engines(runs.values(), "cpu"), Limits(**SERVE_LIMITS))) as server:
        yield server


@contextmanager
def served(app: object) -> Iterator:
    """``app`` under a real uvicorn server on a free localhost port, in a thread, until the block ends."""
    import uvicorn

    from nmt.serve.server import Server

    server = Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield server
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def client(server) -> Iterator:
    """An HTTP client of ``server``."""
    import httpx

    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


# ------------------------------------------------------------------------------ the browser
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (no browser download: the system's own)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    if not CHROMIUM.is_file():
        pytest.skip(f"no browser at {CHROMIUM}: apt-get install chromium (.ci/run installs it where it can)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()
