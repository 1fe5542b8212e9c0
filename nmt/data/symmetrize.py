"""Symmetrization of two directions' word links (Och & Ney 2003; Koehn et al. 2005).

An en->fr model links every French word to English words, a fr->en model every English word to
French words; each misses what the other direction sees. Both are given as (src, tgt) pairs in one
orientation (flip the backward run's links with ``flip`` first):

    intersection           links both directions agree on: high precision
    union                  links either direction has: high recall
    grow-diag-final-and    the intersection, grown (repeatedly) by union links that are neighbours of
                           a link, diagonals included, and whose source or target word is still
                           unlinked; then ("final-and") every union link whose source and target word
                           are both still unlinked. The heuristic of Moses and fast_align's atools.

It lives beside the statistical aligner (``nmt.data.aligner``), whose two directions it combines into
the labels of supervised attention; ``nmt aer`` applies it to two trained runs as well.
"""

from __future__ import annotations

from collections.abc import Callable

Links = set[tuple[int, int]]
NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def flip(links: Links) -> Links:
    """(a, b) -> (b, a): the backward direction's links in the forward orientation."""
    return {(b, a) for a, b in links}


def intersection(forward: Links, backward: Links) -> Links:
    return forward & backward


def union(forward: Links, backward: Links) -> Links:
    return forward | backward


def grow_diag_final_and(forward: Links, backward: Links) -> Links:
    """See the module docstring; links are visited in sorted order, so the result is deterministic."""
    candidates = forward | backward
    links = forward & backward
    src_linked, tgt_linked = {s for s, _ in links}, {t for _, t in links}

    def add(link: tuple[int, int]) -> None:
        links.add(link)
        src_linked.add(link[0])
        tgt_linked.add(link[1])

    grown = True
    while grown:
        grown = False
        for s, t in sorted(links):
            for ds, dt in NEIGHBOURS:
                new = (s + ds, t + dt)
                if (
                    new in candidates
                    and new not in links
                    and (new[0] not in src_linked or new[1] not in tgt_linked)
                ):
                    add(new)
                    grown = True
    for s, t in sorted(candidates - links):
        if s not in src_linked and t not in tgt_linked:
            add((s, t))
    return links


HEURISTICS: dict[str, Callable[[Links, Links], Links]] = {
    "intersection": intersection,
    "union": union,
    "grow-diag-final-and": grow_diag_final_and,
}
