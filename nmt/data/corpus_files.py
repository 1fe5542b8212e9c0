"""Corpus files: looked up locally first (the configured path, ``$NMT_DATA_DIR``, the data cache) and
downloaded into the cache only when missing, atomically, checked against their sha256.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tqdm import tqdm

from nmt.config import FileConfig
from nmt.errors import NmtError

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT_S = 60.0  # a download that waits this long for the server (to connect, or for more bytes) fails


def resolve_file(f: FileConfig, cache_dir: str | Path) -> Path:
    """The local copy of a corpus file, downloading it into the cache when there is none.

    Looks at the path itself (absolute, or relative to the working directory), then under
    ``$NMT_DATA_DIR``, then under ``cache_dir``; then downloads ``f.url`` to ``cache_dir/path``.
    """
    path = Path(f.path).expanduser()
    cached = Path(cache_dir) / path
    candidates = [path]
    if data_dir := os.environ.get("NMT_DATA_DIR"):
        candidates.append(Path(data_dir) / path)
    candidates.append(cached)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    if not f.url:
        raise NmtError(f"corpus file {f.path} not found (looked at {looked}) and no url is configured")
    logger.info("%s not found locally (looked at %s): downloading it", f.path, looked)
    try:
        return download(f.url, cached, f.sha256, f.member)
    except NmtError as e:
        raise NmtError(
            f"{e}\nnothing was kept. Without a network, put the file at {cached}, or point NMT_DATA_DIR "
            f"at a folder holding {f.path} (it was looked for at {looked})"
        ) from e


def download(url: str, dest: str | Path, sha256: str | None = None, member: str | None = None) -> Path:
    """Download ``url`` to ``dest``, atomically, checking its sha256 when given.

    With ``member``, the download is a zip archive and ``dest`` receives that member of it.
    """
    dest = Path(dest)
    with _folders_for(dest), _temp_beside(dest) as raw:
        actual = _fetch(url, raw)
        if sha256 is not None and actual != sha256.lower():
            raise NmtError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {actual}")
        if member is None:
            raw.replace(dest)
        else:
            with _temp_beside(dest) as extracted:
                _extract(raw, member, extracted, url)
                extracted.replace(dest)
    return dest


@contextmanager
def _folders_for(dest: Path) -> Iterator[None]:
    """Create ``dest``'s missing folders; remove those again (when still empty) if the body fails."""
    missing = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in missing:  # innermost first
            with suppress(OSError):
                folder.rmdir()
        raise


@contextmanager
def _temp_beside(dest: Path) -> Iterator[Path]:
    """A fresh temporary file in ``dest``'s folder, removed on exit unless it was renamed."""
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def _fetch(url: str, out: Path) -> str:
    """Write what ``url`` serves to ``out``, with a progress bar; return its sha256."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, out.open("wb") as file:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1]) as bar:
                while chunk := response.read(CHUNK):
                    file.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if total is not None and bar.n < total:  # http.client ends a cut-off body silently
                raise http.client.IncompleteRead(b"", total - bar.n)
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise NmtError(f"could not download {url}: {_reason(e)}") from e
    return digest.hexdigest()


def _reason(e: Exception) -> str:
    """Why a download failed, in words: a timeout and a connection closed early say so."""
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        if not isinstance(e.reason, TimeoutError):
            return f"{e.reason} (no network, or the server is down?)"
        e = e.reason
    if isinstance(e, TimeoutError):
        return f"no answer from the server within {TIMEOUT_S:g} s (timed out)"
    if isinstance(e, http.client.IncompleteRead):
        return f"the connection closed {e.expected} bytes before the end of the file"
    return str(e) or type(e).__name__


def _extract(archive: Path, member: str, out: Path, url: str) -> None:
    """Copy ``member`` of the zip ``archive`` (downloaded from ``url``) to ``out``."""
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, out.open("wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except zipfile.BadZipFile as e:
        raise NmtError(f"{url} is not a zip archive ({e}), but a member {member!r} is configured") from e
    except KeyError as e:
        raise NmtError(f"the zip archive {url} has no member {member!r}") from e
