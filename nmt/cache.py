"""Where the data cache lives unless ``cache_dir`` says otherwise: downloaded corpora, and the prepared
ones under ``prepared/``. ``nmt.config`` registers ``cache_home`` as the resolver ``${nmt.cache_home:}``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> str:
    """The default data cache: ``$NMT_CACHE_DIR``, else ``$XDG_CACHE_HOME/nmt``, else ``~/.cache/nmt``.

    It lies outside the working directory, so ``nmt`` run from anywhere shares one cache. As the XDG
    specification says, an empty or relative ``$XDG_CACHE_HOME`` is ignored.
    """
    if own := os.environ.get("NMT_CACHE_DIR"):
        return own
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return str(base / "nmt")
