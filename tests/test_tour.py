"""The tour of attention (docs/tour.md) and its notebook (docs/notebooks/tour.ipynb): the same commands, and
the notebook runs end to end (slow: it trains two small models for two minutes each)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from conftest import REPO

nbformat = pytest.importorskip("nbformat", reason="the dev extra installs nbformat and nbclient")

TOUR = REPO / "docs" / "tour.md"
NOTEBOOK = REPO / "docs" / "notebooks" / "tour.ipynb"


def test_page_and_notebook_run_the_same_commands() -> None:
    page = re.findall(r"```bash\n(.*?)\n```", TOUR.read_text(encoding="utf-8"), re.DOTALL)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c.source.removeprefix("%%bash\n") for c in notebook.cells if c.source.startswith("%%bash")]
    serve = [command for command in page if command.startswith("nmt serve")]  # blocks: a terminal's
    assert [command for command in page if command not in serve] == cells
    assert serve and all(c.outputs == [] for c in notebook.cells if c.cell_type == "code")  # committed clean


@pytest.mark.slow
def test_notebook_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # `nmt`
    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    NotebookClient(notebook, timeout=1200, resources={"metadata": {"path": str(tmp_path)}}).execute()
    for name in ("bahdanau", "luong", "saliency"):
        assert (tmp_path / "tour" / f"{name}.png").read_bytes().startswith(b"\x89PNG"), name
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3
    texts = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "attention vs saliency: Spearman rho" in texts
    assert (tmp_path / "runs" / "tour" / "luong" / "best.pt").is_file()
