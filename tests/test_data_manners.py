"""Command-line manners of the data layer: where the cache lives, what a failed download leaves
behind and says, and how many threads data preparation takes."""

from __future__ import annotations

import gzip
import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sentencepiece as spm
from conftest import compose
from helpers import assert_clean_error, nmt

from nmt.cache import cache_home
from nmt.config import FileConfig, SubwordConfig
from nmt.data import corpus_files
from nmt.data.corpus_files import resolve_file
from nmt.data.vocab import train_vocab
from nmt.errors import NmtError
from nmt.runtime import available_cpus, worker_count


# ----------------------------------------------------------------- the cache directory
@pytest.fixture
def no_cache_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Neither NMT_CACHE_DIR nor XDG_CACHE_HOME set; HOME is a fresh folder (returned)."""
    monkeypatch.delenv("NMT_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_cache_defaults_to_home_cache_not_the_working_directory(no_cache_env: Path) -> None:
    assert cache_home() == str(no_cache_env / ".cache" / "nmt")
    assert compose().cache_dir == str(no_cache_env / ".cache" / "nmt")


def test_xdg_cache_home_is_used_when_absolute(no_cache_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/me")
    assert cache_home() == "/var/cache/me/nmt"
    for ignored in ("", "relative/cache"):  # the XDG specification: such values are ignored
        monkeypatch.setenv("XDG_CACHE_HOME", ignored)
        assert cache_home() == str(no_cache_env / ".cache" / "nmt")


def test_nmt_cache_dir_wins(no_cache_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/me")
    monkeypatch.setenv("NMT_CACHE_DIR", "/scratch/nmt")
    assert cache_home() == "/scratch/nmt"
    assert compose().cache_dir == "/scratch/nmt"
    assert compose("cache_dir=/elsewhere").cache_dir == "/elsewhere"  # the key still overrides all


# ----------------------------------------------------------------- failed downloads
class Misbehaving(http.server.BaseHTTPRequestHandler):
    """/missing: 404; /cut: promises 1,000,000 bytes and closes after 10; /stall: headers, then waits."""

    def do_GET(self) -> None:
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        if self.path == "/stall":
            time.sleep(2)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def bad_server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("missing", "HTTP Error 404"),
        ("cut", "the connection closed 999990 bytes before the end"),
        ("stall", "no answer from the server within 0.3 s"),
    ],
)
def test_failed_download_names_url_and_remedy_and_leaves_nothing(
    bad_server: str, path: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(corpus_files, "TIMEOUT_S", 0.3)
    monkeypatch.delenv("NMT_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    url = f"{bad_server}/{path}"
    with pytest.raises(NmtError) as err:
        resolve_file(FileConfig(path="corpus/deep/x.en", url=url), cache)
    message = str(err.value)
    assert f"could not download {url}: {reason}" in message
    assert "nothing was kept" in message and "NMT_DATA_DIR" in message
    assert str(cache / "corpus/deep/x.en") in message
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no cache folders, no partial file


def test_existing_cache_folder_is_kept_after_a_failed_download(bad_server: str, tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "other.en").write_text("kept\n")
    with pytest.raises(NmtError, match="404"):
        resolve_file(FileConfig(path="corpus/new/x.en", url=f"{bad_server}/missing"), tmp_path)
    assert [p.name for p in (tmp_path / "corpus").iterdir()] == ["other.en"]


def test_cli_reports_a_failed_download_in_one_message(bad_server: str, tmp_path: Path) -> None:
    url = f"{bad_server}/missing"
    result = nmt(
        "train",
        "data=multi30k_en_fr",
        "data.train.src.path=absent/train.en.gz",
        f"data.train.src.url={url}",
        f"cache_dir={tmp_path / 'cache'}",
        f"run_dir={tmp_path / 'run'}",
        check=False,
    )
    assert_clean_error(result, f"could not download {url}: HTTP Error 404", "NMT_DATA_DIR")
    assert not (tmp_path / "cache").exists()


# ----------------------------------------------------------------- threads
def test_available_cpus_follows_affinity_and_cgroup_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    cpu_max = tmp_path / "cpu.max"
    assert available_cpus(cpu_max) == 4  # no cgroup file: the affinity mask
    for quota, cores in [("max 100000", 4), ("150000 100000", 2), ("800000 100000", 4), ("1000 100000", 1)]:
        cpu_max.write_text(quota + "\n")
        assert available_cpus(cpu_max) == cores, quota
    cpu_max.write_text("garbage\n")
    assert available_cpus(cpu_max) == 4


def test_worker_count_is_the_option_else_the_usable_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nmt.runtime.available_cpus", lambda: 2)
    assert worker_count(None) == 2
    assert worker_count(3) == 3


def test_sentencepiece_trains_in_the_threads_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    with gzip.open(data_dir / "multi30k/train.en.gz", "rt") as lines:
        sentences = [next(lines).strip() for _ in range(300)]
    seen: list[int] = []
    real = spm.SentencePieceTrainer.train

    def recording(**kwargs: Any) -> None:
        seen.append(kwargs["num_threads"])
        real(**kwargs)

    monkeypatch.setattr(spm.SentencePieceTrainer, "train", recording)
    train_vocab(sentences, tmp_path / "one.model", SubwordConfig(vocab_size=200), threads=3)
    assert seen == [3] and (tmp_path / "one.model").is_file()


def test_training_data_is_prepared_in_data_num_proc_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nmt.data import store

    asked: list[int] = []

    def stop(text_dir: Path, models: Any, workers: int, build: bool = True) -> None:
        asked.append(workers)
        raise NmtError("stop here")

    monkeypatch.setattr(store, "prepare_ids", stop)
    cfg = compose(
        "data.train.max_pairs=200", "data.num_proc=3", f"cache_dir={tmp_path}", f"run_dir={tmp_path / 'run'}"
    )
    with pytest.raises(NmtError, match="stop here"):
        store.prepare_training_data(cfg.data, cfg.cache_dir, cfg.run_dir)
    assert asked == [3]
