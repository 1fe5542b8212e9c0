"""A screenshot of the attention explorer: `nmt serve` on 127.0.0.1, driven by headless Chromium.

    python scripts/explorer_screenshot.py runs/tatoeba_en_fr/rnn_bahdanau --out explorer.png

Serves the runs, opens the page, clicks the "I love you." example (or translates ``--sentence``),
hovers the ``--hover``-th word of the first model's translation and saves the page as PNG. Needs
Debian's chromium (`make browser`) and the dev extra (playwright).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def explorer_page(run_dirs: list[Path], width: int, height: int) -> Iterator[Page]:
    """The explorer of `nmt serve RUN_DIRS` on 127.0.0.1, loaded in headless Chromium at ``width`` x
    ``height``; the server is stopped (Ctrl-C) when the block ends."""
    command = [sys.executable, "-m", "nmt.cli", "serve", *map(str, run_dirs), "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = next(line.split()[1] for line in server.stdout if line.startswith("open http://"))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.goto(url)
            yield page
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="one or two runs")
    parser.add_argument("--out", type=Path, default=Path("explorer.png"), help="the PNG to write")
    parser.add_argument("--sentence", help="what to translate (default: the page's example)")
    parser.add_argument("--hover", type=int, default=0, help="which target word to hover (0-based)")
    parser.add_argument("--width", type=int, default=1200, help="browser window width in pixels")
    args = parser.parse_args()

    with explorer_page(args.run_dirs, args.width, 700) as page:
        page.wait_for_selector("#model-a option", state="attached")
        if args.sentence:
            page.fill("#sentences", args.sentence)
            page.click("#translate")
        else:
            page.click("#example")
        for run in args.run_dirs:
            page.wait_for_selector(f".panel[data-model='{run.resolve().name}'] svg.heatmap")
        first = page.locator(".panel").first
        first.locator("svg.heatmap text[data-side=tgt]").nth(args.hover).hover()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
    print(f"screenshot: {args.out}")


if __name__ == "__main__":
    main()
