"""The attention gallery: the same sentences, each forced to its reference translation, for every run.

    python scripts/attention_gallery.py runs/gallery/rnn_bahdanau runs/gallery/transformer ...

For each RUN it draws one heatmap per sentence, ``docs/images/gallery/<run name>-<n>.png`` (n from 1),
and writes ``docs/images/gallery/<run name>.md``: those images in a row, for a page of the site to
include (``--8<-- "images/gallery/<run name>.md"``, docs/guides/attention.md). The sentences are the
textbook "I love you." and three Multi30k test sentences; each is aligned with its reference
translation (teacher forcing, as ``nmt align --target`` does), so runs are compared on the same words.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.alignment.plot import heatmap
from nmt.alignment.words import word_alignment
from nmt.outputs import atomic_write
from nmt.translate import Translator

REPO = Path(__file__).resolve().parents[1]
SENTENCES = [  # (source, reference): the textbook example, then Multi30k test_2016_flickr pairs
    ("I love you.", "Je t'aime."),
    ("Three people sit in a cave.", "Trois personnes sont assises dans une grotte."),
    ("A man cutting branches of trees.", "Un homme coupant les branches d'un arbre."),
    ("People sit inside a train.", "Des gens sont assis dans un train."),
]


def draw_run(run_dir: Path, out: Path) -> Path:
    """The heatmaps of ``SENTENCES`` for one run into ``out``; returns the markdown include it wrote."""
    translator = Translator.from_run(run_dir, device="cpu")
    sources, references = zip(*SENTENCES, strict=True)
    forced = translator.score(list(sources), list(references))
    name = run_dir.name
    images = []
    for n, translation in enumerate(forced, 1):
        table = word_alignment(translation)
        path = heatmap(table.matrix, table.src_words, table.tgt_words, out / f"{name}-{n}.png")
        images.append(f"![{name}: {translation.source}]({path.name}){{ width=240 }}")
    include = out / f"{name}.md"
    with atomic_write(include, "w") as file:
        file.write(" ".join(images).replace("](", "](../images/gallery/") + "\n")
    return include


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="trained run directories")
    parser.add_argument("--out", type=Path, default=REPO / "docs/images/gallery", help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for run in args.runs:
        print(f"{run}: {draw_run(run, args.out)}")


if __name__ == "__main__":
    main()
