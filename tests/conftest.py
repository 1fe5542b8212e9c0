"""Shared fixtures: the real corpora mirror, and small real training sets cut from it."""

from __future__ import annotations

import functools
import gzip
import os
import tempfile
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
