"""Hostile input, end to end: each refusal is one message naming what is wrong, exit status 1, and
nothing written or lost (the folder the command works in is byte for byte as it was).

Everything runs in-process (``nmt.cli.main``) on copies of the session's tiny run, and translating is
made to fail: a command refused at start-up never reaches it. The tests may run as root, who may
write anywhere the file system allows: unwritable places are paths under a regular file, a folder
where a file is meant (and a file where a folder is), and /proc; read-only folders only without root.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import shlex
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from helpers import EchoEngine, run_cli
from test_numbers import tiny_run  # noqa: F401 (the session's one tiny run)

from nmt.errors import NmtError
from nmt.rundir import load_checkpoint, save_checkpoint
from nmt.serve.batching import Batcher
from nmt.translate import Translator


def digests(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder``: relative path -> sha256 of its bytes ("folder" for one)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
        for p in sorted(folder.rglob("*"))
    }


@dataclasses.dataclass
class Place:
    """A folder holding what a hostile command is given; its fields fill the commands' {placeholders}."""

    root: Path  # everything below; compared byte for byte before and after
    run: Path  # a copy of the session's tiny run
    file: Path  # a regular file: nothing can be created under it
    old: Path  # an existing output file (yesterday's translations)
    big: Path  # an input of 200 lines
    blank: Path  # an input whose second line is blank


@pytest.fixture
def place(tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Place:  # noqa: F811
    """A fresh Place; translating fails the test, so a command refused at start-up never reaches it."""

    def translated(*args: object, **kwargs: object) -> None:
        raise AssertionError("translated before the refusal")

    monkeypatch.setattr(Translator, "translate", translated)
    monkeypatch.setattr(Translator, "score", translated)
    root = tmp_path / "place"
    place = Place(root, root / "run", root / "a_file", root / "old.de", root / "big.en", root / "blank.en")
    shutil.copytree(tiny_run, place.run, ignore=shutil.ignore_patterns("tensorboard"))
    place.file.write_text("in the way\n")
    place.old.write_text("yesterday's translations\n")
    place.big.write_text("A man is walking down the street .\n" * 200)
    place.blank.write_text("A dog runs .\n   \nTwo men .\n")
    return place


def assert_refused(place: Place, capsys: pytest.CaptureFixture[str], command: str, message: str) -> None:
    """``nmt COMMAND`` exits 1 with the one line ``nmt NAME: error: MESSAGE...``, printing nothing else
    and leaving ``place.root`` byte for byte as it was (both strings filled from ``place``)."""
    fields = {key: str(value) for key, value in dataclasses.asdict(place).items()}
    argv = [word.format(**fields) for word in shlex.split(command)]
    before = digests(place.root)
    status, out, err = run_cli(capsys, *argv)
    assert (status, out) == (1, ""), err
    assert err.startswith(f"nmt {argv[0]}: error: {message.format(**fields)}"), err
    assert err.count("\n") == 1, err
    assert digests(place.root) == before


NOT_A_DIRECTORY = "cannot be created, {file} is not a directory"
REFUSED = {
    # 1. outputs of translate, checked before the model is read
    "translate --output under a file": (
        "translate {run} --input {big} --output {file}/big.de",
        "--output {file}/big.de: " + NOT_A_DIRECTORY,
    ),
    "translate --output in /proc": (
        "translate {run} --input {big} --output /proc/nmt-test/big.de",
        "--output /proc/nmt-test/big.de: cannot write in /proc",
    ),
    "translate --align under a file": (
        "translate {run} --input {big} --output {old} --align {file}/big.jsonl",
        "--align {file}/big.jsonl: " + NOT_A_DIRECTORY,
    ),
    "translate --align a folder": (
        "translate {run} --input {big} --output {old} --align {root}",
        "--align {root}: is a directory; give a file name",
    ),
    # 2. outputs of every other command
    "score --output under a file": (
        "score {run} --src {big} --tgt {big} --output {file}/scores.txt",
        "--output {file}/scores.txt: " + NOT_A_DIRECTORY,
    ),
    "score --output a folder": (
        "score {run} --src {big} --tgt {big} --output {root}",
        "--output {root}: is a directory; give a file name",
    ),
    "align --out under a file": (
        "align {run} 'A dog .' --out {file}/a.png",
        "--out {file}/a.png: " + NOT_A_DIRECTORY,
    ),
    "align --out-dir a file": ("align {run} 'A dog .' --out-dir {file}", "--out-dir {file}: is a file"),
    "average --out under a file": (
        "average {run} --last 2 --out {file}/avg.pt",
        "--out {file}/avg.pt: " + NOT_A_DIRECTORY,
    ),
    "export --out a file": ("export {run} --format ctranslate2 --out {file}", "--out {file}: is a file"),
    "export --out under a file": (
        "export {run} --format ctranslate2 --out {file}/model",
        "--out {file}/model: " + NOT_A_DIRECTORY,
    ),
    "compare --out under a file": ("compare {run} --out {file}/cmp", "--out {file}/cmp: " + NOT_A_DIRECTORY),
    # 3. and 6. numbers out of range, before anything is read or written (hyps/ included)
    "translate --alpha nan": (
        "translate {run} 'A dog .' --alpha nan",
        "--alpha nan: must be a finite number in [0, 5]",
    ),
    "translate --alpha=-inf": (
        "translate {run} --input {big} --output {old} --alpha=-inf",
        "--alpha -inf: must be a finite number in [0, 5]",
    ),
    "evaluate --alpha nan": (
        "evaluate {run} --split valid --alpha nan",
        "--alpha nan: must be a finite number in [0, 5]",
    ),
    "evaluate --alpha=-inf": (
        "evaluate {run} --split valid --alpha=-inf",
        "--alpha -inf: must be a finite number in [0, 5]",
    ),
    "translate --alpha 1e308": (
        "translate {run} 'A dog .' --alpha 1e308",
        "--alpha 1e+308: must be a finite number in [0, 5]",
    ),
    "translate --temperature nan": (
        "translate {run} 'A dog .' --sample --temperature nan",
        "--temperature nan: must be a finite number in [0.01, 100]",
    ),
    "translate --temperature inf": (
        "translate {run} 'A dog .' --sample --temperature inf",
        "--temperature inf: must be a finite number in [0.01, 100]",
    ),
    "translate --max-len-a nan": (
        "translate {run} 'A dog .' --max-len-a nan",
        "--max-len-a nan: must be a finite number in [0, 100]",
    ),
    "translate --seed 2**70": (
        f"translate {{run}} 'A dog .' --seed {2**70}",
        f"--seed {2**70}: must be a whole number in [0, 2**32 - 1]",
    ),
    # 7. nothing to align
    "align ''": ("align {run} ''", "sentence 1 is empty: there is nothing to align"),
    "align of a blank second sentence": ("align {run} 'A dog .' '  '", "sentence 2 is empty"),
    "align --input with a blank line": (
        "align {run} --input {blank} --out-dir {root}/images",
        "{blank}:2 is empty: there is nothing to align",
    ),
}


@pytest.mark.parametrize(("command", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_a_hostile_command_is_one_message_exit_1_and_nothing_written(
    place: Place, capsys: pytest.CaptureFixture[str], command: str, message: str
) -> None:
    assert_refused(place, capsys, command, message)


# ------------------------------------------------------- a run's own outputs (2.)
def test_evaluate_and_compare_refuse_a_run_whose_hyps_cannot_be_written(
    place: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(place.run / "hyps", ignore_errors=True)
    (place.run / "hyps").write_text("not a folder\n")
    refused = "RUN_DIR {run}/hyps: is a file; give a directory"
    assert_refused(place, capsys, "evaluate {run} --split valid", refused)
    assert_refused(place, capsys, "compare {run} --split valid --out {root}/cmp", refused)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_evaluate_refuses_a_read_only_run_directory(place: Place, capsys: pytest.CaptureFixture[str]) -> None:
    folders = [place.run, *([place.run / "hyps"] if (place.run / "hyps").is_dir() else [])]
    for folder in folders:
        folder.chmod(0o555)
    try:
        assert_refused(place, capsys, "evaluate {run} --split valid", "RUN_DIR {run}/hyps: cannot write in")
    finally:
        for folder in folders:
            folder.chmod(0o755)


# ------------------------------------------------- a run's config.yaml (8.)
def test_an_unknown_model_key_in_config_yaml_is_named_with_its_file(
    place: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    config = place.run / "config.yaml"
    config.write_text(config.read_text().replace("model:\n", "model:\n  bogus_width: 3\n", 1))
    named = "{run}/config.yaml: unknown key model.bogus_width (not an option of model.arch=rnn)"
    for command in ("translate {run} 'A dog .' --output {old}", "evaluate {run} --split valid"):
        assert_refused(place, capsys, command, named)


# ------------------------------------------------- average of mixed runs (4.)
def snapshots_of_two_runs(run: Path, key: str, other: object) -> None:
    """step_5.pt of ``run`` and step_10.pt of another: the same weights, the record's ``key`` differs."""
    checkpoint = load_checkpoint(run / "last.pt")
    save_checkpoint(run / "step_5.pt", {**checkpoint, "step": 5})
    record = {**checkpoint["provenance"], key: other}
    save_checkpoint(run / "step_10.pt", {**checkpoint, "step": 10, "provenance": record})


@pytest.mark.parametrize(
    ("key", "other", "mixed"),
    [
        ("run_id", "f" * 32, "runs (step_5.pt: {short}, step_10.pt: ffffffff)"),
        ("vocab", {"spm.model": "0" * 64}, "vocabularies (step_5.pt: "),
    ],
    ids=["another seed", "another vocabulary"],
)
def test_average_refuses_snapshots_of_another_run_and_allow_mixed_goes_on(
    place: Place, capsys: pytest.CaptureFixture[str], key: str, other: object, mixed: str
) -> None:
    snapshots_of_two_runs(place.run, key, other)
    short = load_checkpoint(place.run / "step_5.pt")["provenance"]["run_id"][:8]
    assert_refused(
        place, capsys, "average {run} --last 2", "the checkpoints mix " + mixed.replace("{short}", short)
    )
    before = digests(place.root)
    status, out, _ = run_cli(capsys, "average", str(place.run), "--last", "2", "--allow-mixed")
    assert status == 0 and "average_last2.pt" in out
    after = digests(place.root)
    assert after.keys() - before.keys() == {"run/average_last2.pt"}
    assert all(after[path] == digest for path, digest in before.items())  # only the average was added


# ------------------------------------------------------ a full disk (9.)
def test_a_full_disk_at_a_checkpoint_write_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nmt.rundir

    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"weight": torch.ones(10)}, "step": 5})
    before = digests(tmp_path)
    real_save = torch.save

    def save_to_full_disk(payload: object, file: object) -> None:
        with open("/dev/full", "wb") as full:  # every write fails with ENOSPC
            real_save(payload, full)

    monkeypatch.setattr(nmt.rundir.torch, "save", save_to_full_disk)
    with pytest.raises(NmtError) as error:
        save_checkpoint(path, {"model": {"weight": torch.zeros(1000, 1000)}, "step": 10})
    message = str(error.value)
    assert message.startswith(f"{path}: cannot write the checkpoint, the disk is full: it needs about 4.0 MB")
    assert "MB are free in" in message and "\n" not in message
    assert digests(tmp_path) == before  # the previous checkpoint whole, no temporary left
    assert load_checkpoint(path)["step"] == 5


# --------------------------------------------------------- fair serving (10.)
class GatedEngine(EchoEngine):
    """``EchoEngine`` (0.1 ms a character) whose calls wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(seconds_per_character=1e-4)
        self.started, self.gate = threading.Event(), threading.Event()

    def translate(self, sentences: Sequence[str], options: object) -> list[list[dict[str, str]]]:
        self.started.set()
        self.gate.wait(10)
        return super().translate(sentences, options)


def test_a_light_request_goes_next_and_apart_from_the_long_sentences() -> None:
    heavy = [f"{i:04d}" + "x" * 996 for i in range(8)]  # 1,000 characters each

    async def heavy_then_light(batcher: Batcher, engine: GatedEngine) -> list:
        batcher.start()
        try:
            first = asyncio.create_task(batcher.translate(engine, heavy, None))
            await asyncio.get_running_loop().run_in_executor(None, engine.started.wait, 10)
            light = asyncio.create_task(batcher.translate(engine, ["hello"], None))
            await asyncio.sleep(0.01)  # queued while the heavy request's first batch is in flight
            engine.gate.set()
            return await asyncio.gather(first, light)
        finally:
            await batcher.stop()

    engine = GatedEngine()
    results = asyncio.run(heavy_then_light(Batcher(max_chars=2000), engine))
    assert results[1] == [[{"translation": "hello"}]] and len(results[0]) == 8
    heavy_calls = [call for call in engine.calls if call != ["hello"]]  # "hello" in a call of its own lane
    assert ["hello"] in engine.calls[:2] and heavy_calls[0] == heavy[:2]  # beside the first heavy batch
    assert [s for call in heavy_calls for s in call] == heavy
