"""``scripts/gpu_check.py --smoke``: on the CPU, with tiny sizes, it writes every figure's field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_numbers import tiny_run  # noqa: F401 (the session's one tiny run)

REPO = Path(__file__).resolve().parents[1]


def test_the_smoke_run_writes_the_json_and_the_tables(tiny_run: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "check"
    command = [sys.executable, str(REPO / "scripts" / "gpu_check.py"), "--smoke", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([*command, "--run", str(tiny_run)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert {"command", "date", "device", "torch", "peak", "training", "decoding", "skipped"} <= results.keys()
    assert set(results["peak"]) == {"fp32", "bf16"} and all(v > 0 for v in results["peak"].values())
    rows = {(r["model"], r["precision"]) for r in results["training"]}
    assert rows == {(m, p) for m in ("transformer", "rnn_bahdanau") for p in ("fp32", "bf16")}
    for row in results["training"]:
        assert row["tokens_per_s"] > 0 and row["mfu"] > 0 and row["peak_memory_gib"] is None  # CPU
    decoding = {(r["engine"], r["beam"], r["batch_size"]) for r in results["decoding"]}
    assert decoding == {("nmt", beam, size) for beam in (1, 5) for size in (1, 4)}
    assert all(r["sentences_per_s"] > 0 and r["tokens_per_s"] > 0 for r in results["decoding"])
    assert any(note.startswith("ctranslate2: ") for note in results["skipped"])  # an RNN run
    table = (out / "results.md").read_text()
    assert (
        "| transformer | " in table and "| nmt | 5 | 4 |" in table and "scripts/gpu_check.py --smoke" in table
    )
