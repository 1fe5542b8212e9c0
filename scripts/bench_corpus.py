"""A WMT-sized corpus of distinct real-sentence pairs, for benchmarking the data pipeline.

    python scripts/bench_corpus.py OUT_DIR --pairs 4500000 --seed 0

Every pair joins 2 or 3 random real pairs (both sides in the same order) of English-French
Tatoeba, Multi30k, Europarl and News Commentary from ``$NMT_DATA_DIR``. Pairs are normalised and
kept only when distinct and accepted by the cleaning settings of ``wmt14_en_fr``, so the corpus
prepares to exactly ``--pairs`` training pairs. Writes ``OUT_DIR/train.en`` and ``OUT_DIR/train.fr``.
"""

from __future__ import annotations

import argparse
import gzip
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nmt.config import CleanConfig
from nmt.data.clean import drop_reason, normalize

# corpus -> chance that one slot of a joined pair comes from it
WEIGHTS = {"tatoeba": 0.5, "multi30k": 0.1, "europarl": 0.2, "news_commentary": 0.2}


def read_pool(data_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """The real English-French pairs of each corpus, normalised, without empty sides."""

    def lines(path: Path) -> list[str]:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]

    def aligned(src: Path, tgt: Path) -> list[tuple[str, str]]:
        return list(zip(lines(src), lines(tgt), strict=True))

    wmt = data_dir / "wmt" / "train"
    raw = {
        "tatoeba": [tuple(line.split("\t")[:2]) for line in lines(data_dir / "tatoeba" / "fra-eng.txt")],
        "multi30k": aligned(data_dir / "multi30k" / "train.en.gz", data_dir / "multi30k" / "train.fr.gz"),
        "europarl": aligned(wmt / "europarl-v7-head3000.en-fr.en", wmt / "europarl-v7-head3000.en-fr.fr"),
        "news_commentary": aligned(wmt / "news-commentary-5k.en-fr.en", wmt / "news-commentary-5k.en-fr.fr"),
    }
    return {
        name: [(normalize(s), normalize(t)) for s, t in pairs if s.strip() and t.strip()]
        for name, pairs in raw.items()
    }


def build(out_dir: Path, size: int, seed: int, clean: CleanConfig) -> int:
    """Write ``size`` distinct joined pairs; returns how many candidates were drawn."""
    pool = read_pool(Path(os.environ.get("NMT_DATA_DIR", "data")))
    names = list(WEIGHTS)
    rng = np.random.default_rng(seed)
    seen: set[int] = set()
    drawn = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        open(out_dir / "train.en", "w", encoding="utf-8") as en,
        open(out_dir / "train.fr", "w", encoding="utf-8") as fr,
        tqdm(total=size, unit="pair", desc="corpus") as bar,
    ):
        while len(seen) < size:
            chunk = 100_000
            slots = rng.integers(2, 4, chunk)
            corpora = rng.choice(len(names), (chunk, 3), p=list(WEIGHTS.values()))
            picks = rng.random((chunk, 3))
            for k, row, pick in zip(slots.tolist(), corpora.tolist(), picks.tolist(), strict=True):
                parts = [
                    pool[names[c]][int(p * len(pool[names[c]]))]
                    for c, p in zip(row[:k], pick[:k], strict=True)
                ]
                src, tgt = " ".join(s for s, _ in parts), " ".join(t for _, t in parts)
                drawn += 1
                key = hash((src, tgt))
                if key in seen or drop_reason(src, tgt, clean) is not None:
                    continue
                seen.add(key)
                en.write(src + "\n")
                fr.write(tgt + "\n")
                bar.update()
                if len(seen) == size:
                    break
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--pairs", type=int, default=4_500_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    drawn = build(args.out_dir, args.pairs, args.seed, CleanConfig())
    print(f"{args.pairs:,} distinct pairs ({drawn:,} drawn) in {args.out_dir}")


if __name__ == "__main__":
    main()
