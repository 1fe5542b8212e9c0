"""Reading corpora (text, TSV, `datasets`, streamed or not), downloads, the hash split, normalisation."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from nmt.config import DataConfig, FileConfig
from nmt.data.clean import normalize, normalize_pairs
from nmt.data.corpus_files import download, resolve_file
from nmt.data.sources import hash_part, load_split
from nmt.errors import NmtError

REPO = Path(__file__).resolve().parents[1]


def data_config(name: str) -> Any:
    """configs/data/NAME.yaml merged onto the DataConfig schema."""
    raw = OmegaConf.load(REPO / "configs" / "data" / f"{name}.yaml")
    raw.pop("defaults")
    return OmegaConf.merge(OmegaConf.structured(DataConfig), raw)


def split_config(**train: Any) -> Any:
    """A DataConfig whose train split is ``train``."""
    return OmegaConf.merge(
        OmegaConf.structured(DataConfig), {"name": "t", "src_lang": "en", "tgt_lang": "fr", "train": train}
    )


def text_split(src: Path, tgt: Path) -> Any:
    return split_config(format="text", src={"path": str(src)}, tgt={"path": str(tgt)})


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------- real corpora
def test_multi30k_gz_text(tmp_path: Path) -> None:
    pairs = load_split(data_config("multi30k_en_de"), "train", tmp_path)
    assert len(pairs) == 29000
    assert pairs[0] == (
        "Two young, White males are outside near many bushes.",
        "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
    )
    assert len(load_split(data_config("multi30k_en_de"), "valid", tmp_path)) == 1014


def test_tatoeba_hash_split_keeps_test_sources_out_of_training(tmp_path: Path) -> None:
    cfg = data_config("tatoeba_en_fr")
    parts = {split: load_split(cfg, split, tmp_path) for split in ("train", "valid", "test")}
    total = sum(len(p) for p in parts.values())
    assert total == 167130
    assert ("I love you.", "Je t'aime.") in parts["train"] + parts["valid"] + parts["test"]
    assert 0.005 < len(parts["test"]) / total < 0.02
    assert 0.005 < len(parts["valid"]) / total < 0.02
    sources = {split: {normalize(s).lower() for s, _ in p} for split, p in parts.items()}
    assert not sources["train"] & sources["test"]
    assert not sources["train"] & sources["valid"]
    assert not sources["valid"] & sources["test"]


def test_max_pairs_keeps_the_first_pairs(tmp_path: Path) -> None:
    cfg = data_config("tatoeba_en_fr")
    cfg.train.max_pairs = 3
    assert load_split(cfg, "train", tmp_path) == [
        ("Go.", "Va !"),
        ("Hi.", "Salut !"),
        ("Run!", "Cours\u202f!"),
    ]


def test_hash_part_ignores_case_and_spacing() -> None:
    cfg = data_config("tatoeba_en_fr").hash_split
    sentences = [f"Sentence number {i}." for i in range(3000)]
    parts = [hash_part(s, cfg) for s in sentences]
    assert parts == [hash_part(f"  {s.upper()} ", cfg) for s in sentences]
    assert {"train", "valid", "test"} == set(parts)
    everything_valid = OmegaConf.merge(cfg, {"valid": 1.0, "test": 0.0})
    assert {hash_part(s, everything_valid) for s in sentences} == {"valid"}


# ----------------------------------------------------------------- bad input
def test_different_line_counts_name_both_files(tmp_path: Path) -> None:
    src = write(tmp_path / "a.en", b"one\ntwo\nthree\n")
    tgt = write(tmp_path / "a.fr", b"un\ndeux\n")
    with pytest.raises(NmtError) as err:
        load_split(text_split(src, tgt), "train", tmp_path)
    assert str(src) in str(err.value) and str(tgt) in str(err.value)
    assert "3" in str(err.value) and "2" in str(err.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(NmtError, match="no url") as err:
        load_split(text_split(Path("nowhere/x.en"), Path("nowhere/x.fr")), "train", tmp_path / "cache")
    assert "nowhere/x.en" in str(err.value) and str(tmp_path / "cache") in str(err.value)


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    src = write(tmp_path / "a.en.gz", gzip.compress(b"fine\nbad \xff byte\n"))
    tgt = write(tmp_path / "a.fr", b"bien\nmauvais\n")
    with pytest.raises(NmtError, match="invalid UTF-8") as err:
        load_split(text_split(src, tgt), "train", tmp_path)
    assert f"{src}:2:" in str(err.value)


def test_tsv_line_with_one_column_names_file_and_line(tmp_path: Path) -> None:
    tsv = write(tmp_path / "pairs.tsv", b"Hi.\tSalut !\nno tab here\n")
    with pytest.raises(NmtError, match="1 tab-separated column") as err:
        load_split(split_config(format="tsv", tsv={"path": str(tsv)}), "train", tmp_path)
    assert f"{tsv}:2:" in str(err.value)


def test_tsv_columns_are_configurable(tmp_path: Path) -> None:
    tsv = write(tmp_path / "pairs.tsv", b"Salut !\tHi.\tCC-BY\n")
    cfg = split_config(format="tsv", tsv={"path": str(tsv)}, columns=[1, 0])
    assert load_split(cfg, "train", tmp_path) == [("Hi.", "Salut !")]


# ----------------------------------------------------------------- resolution and downloads
@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A local HTTP server over a tmp folder: (base url, folder, paths requested so far)."""
    root = tmp_path / "served"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_lands_in_cache_and_is_reused(
    server: tuple[str, Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root, requests = server
    monkeypatch.chdir(tmp_path)
    data = "Hello\nwörld\n".encode() * 1000
    write(root / "x.en", data)
    f = FileConfig(path="corpus/x.en", url=f"{url}/x.en", sha256=sha256(data))
    cache = tmp_path / "cache"
    assert resolve_file(f, cache) == cache / "corpus" / "x.en"
    assert (cache / "corpus" / "x.en").read_bytes() == data
    assert resolve_file(f, cache) == cache / "corpus" / "x.en"
    assert requests == ["/x.en"]
    assert sorted(p.name for p in (cache / "corpus").iterdir()) == ["x.en"]


def test_sha256_mismatch_leaves_nothing_behind(server: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, root, _ = server
    write(root / "x.en", b"tampered\n")
    dest = tmp_path / "cache" / "x.en"
    with pytest.raises(NmtError, match="checksum mismatch") as err:
        download(f"{url}/x.en", dest, sha256="0" * 64)
    assert f"{url}/x.en" in str(err.value) and "0" * 64 in str(err.value)
    assert sha256(b"tampered\n") in str(err.value)
    assert not dest.parent.exists()  # the folder the download made is removed again


def test_zip_member_is_extracted(server: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, root, _ = server
    with zipfile.ZipFile(root / "fra-eng.zip", "w") as zf:
        zf.writestr("_about.txt", "about")
        zf.writestr("fra.txt", "Go.\tVa !\n")
    checksum = sha256((root / "fra-eng.zip").read_bytes())
    dest = download(f"{url}/fra-eng.zip", tmp_path / "t" / "fra-eng.txt", checksum, member="fra.txt")
    assert dest.read_text() == "Go.\tVa !\n"
    assert list(dest.parent.iterdir()) == [dest]
    with pytest.raises(NmtError, match=r"no member 'deu\.txt'"):
        download(f"{url}/fra-eng.zip", tmp_path / "t" / "deu.txt", member="deu.txt")


def test_unreachable_or_missing_url_raises(server: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/x.en"
    for bad in (closed, f"{server[0]}/absent.en"):
        with pytest.raises(NmtError, match="could not download") as err:
            download(bad, tmp_path / "x.en")
        assert bad in str(err.value)
    assert list(tmp_path.iterdir()) == [tmp_path / "served"]


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rel = Path("corpus") / "x.en"
    places = {name: write(tmp_path / name / rel, name.encode()) for name in ("cwd", "mirror", "cache")}
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("NMT_DATA_DIR", str(tmp_path / "mirror"))
    f = FileConfig(path=str(rel), url="http://127.0.0.1:9/never-fetched")
    for name in ("cwd", "mirror", "cache"):
        assert resolve_file(f, tmp_path / "cache").read_bytes() == name.encode()
        places[name].unlink()
    absolute = write(tmp_path / "elsewhere.en", b"absolute")
    assert resolve_file(FileConfig(path=str(absolute)), tmp_path / "cache") == absolute


# ----------------------------------------------------------------- datasets
def test_hub_format_with_local_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    records = [{"translation": {"en": f"Sentence {i}.", "fr": f"Phrase {i}."}} for i in range(5)]
    jsonl = write(tmp_path / "t.jsonl", "".join(json.dumps(r) + "\n" for r in records).encode())
    hub = {"path": "json", "data_files": [str(jsonl)], "src_field": "translation.en"}
    cfg = split_config(format="hub", hub={**hub, "tgt_field": "translation.fr"}, max_pairs=4)
    assert load_split(cfg, "train", tmp_path) == [(f"Sentence {i}.", f"Phrase {i}.") for i in range(4)]
    with pytest.raises(NmtError, match=r"no field translation\.de"):
        load_split(split_config(format="hub", hub={**hub, "tgt_field": "translation.de"}), "train", tmp_path)
    missing = {**hub, "data_files": [str(tmp_path / "absent.jsonl")], "tgt_field": "translation.fr"}
    with pytest.raises(NmtError, match="could not load dataset 'json'"):
        load_split(split_config(format="hub", hub=missing), "train", tmp_path)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-streamed")
    streamed = split_config(format="hub", hub={**hub, "tgt_field": "translation.fr", "streaming": True})
    assert load_split(streamed, "train", tmp_path) == [(f"Sentence {i}.", f"Phrase {i}.") for i in range(5)]
    assert not list((tmp_path / "hf-streamed").glob("**/*.arrow"))  # nothing stored by datasets
    with pytest.raises(
        NmtError, match=r"no field translation\.de; its fields: translation\.en, translation\.fr"
    ):
        load_split(
            split_config(format="hub", hub={**hub, "tgt_field": "translation.de", "streaming": True}),
            "train",
            tmp_path,
        )


# ----------------------------------------------------------------- cleaning
def test_normalize_pairs_drops_nothing() -> None:
    assert normalize_pairs([("  a\tb ", ""), ("e\u0301", "x\u00a0 y")]) == [("a b", ""), ("\u00e9", "x y")]
