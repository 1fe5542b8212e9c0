"""A statistical word aligner, eflomal (Östling & Tiedemann 2016), on whitespace-tokenized pairs.

It is what attention is compared with (``nmt aer --aligner``) and what supervised attention learns
from (``nmt.data.links``). eflomal trains Bayesian IBM-style models by Gibbs sampling on exactly the
pairs it aligns, so a sentence to be scored is aligned together with a larger corpus, as fast_align
would be. It aligns both directions; ``nmt.alignment.symmetrize`` combines them. Sampling is not
seeded: two runs may differ in a few links.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from nmt.errors import NmtError

Links = set[tuple[int, int]]
_LINK = re.compile(r"(\d+)-(\d+)")


def eflomal_links(sources: Sequence[str], targets: Sequence[str]) -> tuple[list[Links], list[Links]]:
    """(forward, backward) links of every pair, both as (source word, target word) 0-based pairs.

    Sentences are split on whitespace; an empty side gets no links. eflomal reports its stages on
    stderr. Raises NmtError when eflomal is not installed or the sides differ in length.
    """
    try:
        from eflomal import Aligner
    except ModuleNotFoundError:
        raise NmtError("the statistical aligner needs eflomal: pip install 'nmt[align]'") from None
    if len(sources) != len(targets):
        raise NmtError(f"{len(sources)} source sentences for {len(targets)} target sentences")
    with tempfile.TemporaryDirectory(prefix="nmt-eflomal-") as folder:
        forward, backward = Path(folder, "forward"), Path(folder, "backward")
        Aligner().align(
            [f"{line}\n" for line in sources],
            [f"{line}\n" for line in targets],
            links_filename_fwd=str(forward),
            links_filename_rev=str(backward),
            quiet=False,  # its stages and their times on stderr: the progress of a long alignment
        )
        return _read_links(forward, len(sources)), _read_links(backward, len(sources))


def _read_links(path: Path, count: int) -> list[Links]:
    lines = path.read_text(encoding="utf-8").split("\n")[:count]
    return [{(int(m[1]), int(m[2])) for m in _LINK.finditer(line)} for line in lines]
