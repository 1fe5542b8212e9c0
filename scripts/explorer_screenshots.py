"""Screenshots of the attention explorer for the docs: `nmt serve` on 127.0.0.1, driven by headless Chromium.

    python scripts/explorer_screenshots.py RUN_A RUN_B --out docs/images/explorer

Serves the two runs (RUN_A with snapshots, ``trainer.save_every``/``keep_last``, for the slider) and
saves into ``--out``:

  both.png         the textbook pair "I love you." / "Je t'aime." aligned as given, attention and
                   saliency side by side with their Spearman rho, a source word hovered in both panels
  difference.png   RUN_B aligned on RUN_A's translation of ``--sentence``, and A − B
  checkpoints.png  RUN_A's panel at its first saved checkpoint (the slider moved to the left)
  narrow.png       the page 800 px wide

Needs Debian's chromium (`make browser`) and the dev extra (playwright).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from explorer_screenshot import explorer_page
from playwright.sync_api import Page

WAIT = 600_000  # ms: saliency on a busy CPU takes its time


def shoot(page: Page, runs: list[str], sentence: str, out: Path) -> None:
    """The four screenshots, one page, one step after the other."""
    first, second = (f".panel[data-model='{run}']" for run in runs)
    page.select_option("#method", "both")
    page.click("#textbook")
    page.wait_for_selector(f"{second} figure[data-reading=saliency] svg.heatmap", timeout=WAIT)
    page.wait_for_selector(f"{first} figure[data-reading=saliency] svg.heatmap", timeout=WAIT)
    page.locator(f"{first} .strip.src .word").nth(1).hover()
    page.screenshot(path=str(out / "both.png"), full_page=True)

    page.fill("#target", "")
    page.select_option("#method", "attention")
    page.fill("#sentences", sentence)
    page.check("#difference")
    page.wait_for_selector(".panel.difference svg.heatmap", timeout=WAIT)
    page.screenshot(path=str(out / "difference.png"), full_page=True)

    page.uncheck("#difference")
    with page.expect_response("**/api/translate", timeout=WAIT):
        page.select_option("#model-b", "")  # one panel, made anew
    page.locator(f"{first} svg.heatmap").wait_for(timeout=WAIT)
    slider = page.locator(f"{first} input.checkpoint")
    with page.expect_response("**/api/translate", timeout=WAIT):
        slider.evaluate("s => { s.value = 0; s.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.locator(f"{first} svg.heatmap").wait_for(timeout=WAIT)
    page.screenshot(path=str(out / "checkpoints.png"), full_page=True)

    page.set_viewport_size({"width": 800, "height": 900})
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "narrow.png"), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "run_dirs", nargs=2, type=Path, metavar="RUN_DIR", help="two runs (the first with snapshots)"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/images/explorer"), help="folder of the PNGs")
    parser.add_argument("--sentence", default="A man is walking.", help="the sentence of difference.png")
    parser.add_argument("--width", type=int, default=1300, help="browser window width in pixels")
    args = parser.parse_args()

    with explorer_page(args.run_dirs, args.width, 900) as page:
        page.wait_for_selector("#model-b option:nth-child(3)", state="attached")
        args.out.mkdir(parents=True, exist_ok=True)
        shoot(page, [run.resolve().name for run in args.run_dirs], args.sentence, args.out)
    print(f"screenshots: {args.out}/{{both,difference,checkpoints,narrow}}.png")


if __name__ == "__main__":
    main()
