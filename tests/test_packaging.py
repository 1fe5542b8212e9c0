"""A wheel install (``pip install .``, not editable) trains and translates: the configs ship inside."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TINY_MODEL

NOT_PACKAGED = {
    ".venv",
    ".git",
    "runs",
    "data",
    "build",
    "outputs",
    "multirun",
    ".pytest_cache",
    ".ruff_cache",
}


@pytest.mark.slow
def test_a_wheel_install_trains_and_translates(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so the build writes nothing into the checkout
    shutil.copytree(
        REPO,
        source,
        ignore=lambda folder, names: [
            n for n in names if (Path(folder) == REPO and n in NOT_PACKAGED) or n.endswith(".egg-info")
        ],
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The dependencies (torch among them) come from this environment rather than a download.
    site = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    (Path(site) / "dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    # `pip install .` in two steps: the wheel built with this environment's setuptools (offline), then
    # installed, not editable, into the fresh environment.
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", "wheels"]
    subprocess.run([*build, str(source)], check=True, cwd=tmp_path)
    (wheel,) = (tmp_path / "wheels").glob("nmt-*.whl")
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", wheel], check=True)
    shutil.rmtree(source)  # the install must not need the source tree

    def run(*args: str) -> str:
        result = subprocess.run([venv / "bin" / "nmt", *args], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import nmt; print(nmt.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert where.startswith(site), where
    tiny = ["data.train.max_pairs=300", "data.valid.max_pairs=40", "data.spm.vocab_size=400"]
    run("train", "trainer=tiny", "data=multi30k_en_de", *TINY_MODEL["rnn"], *tiny, "run_dir=wheel_run")
    assert run("translate", "wheel_run", "A dog runs.").strip()


def test_a_config_folder_of_your_own_adds_to_the_packaged_ones(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    corpus = (REPO / "configs" / "data" / "multi30k_en_de.yaml").read_text()
    (tmp_path / "data" / "my_corpus.yaml").write_text(
        corpus.replace("name: multi30k_en_de", "name: my_corpus")
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nmt.cli",
            "train",
            "--config-dir",
            str(tmp_path),
            "data=my_corpus",
            "--cfg",
            "job",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "name: my_corpus" in result.stdout and "name: rnn_bahdanau" in result.stdout
