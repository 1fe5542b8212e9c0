"""One copy of the configs, at the top of the repository (configs/), is what the package reads as
nmt/configs, from a source checkout and from a wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(path.relative_to(REPO / "configs").as_posix() for path in (REPO / "configs").rglob("*.yaml"))


def test_the_package_reads_the_top_level_configs() -> None:
    from nmt.train import CONFIG_DIR

    assert CONFIG_DIR.resolve() == (REPO / "configs").resolve()
    assert "config.yaml" in CONFIGS and "model/rnn_bahdanau.yaml" in CONFIGS


@pytest.mark.slow
def test_the_wheel_holds_every_config(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path]
    subprocess.run([*build, REPO], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("nmt-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert (
        sorted(name.removeprefix("nmt/configs/") for name in names if name.startswith("nmt/configs/"))
        == CONFIGS
    )
    assert not [name for name in names if name.startswith("configs/")]
