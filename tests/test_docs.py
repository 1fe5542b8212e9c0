"""The documentation site: the generated references cover the whole parser and every config key."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nmt import config
from nmt.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def _hooks():
    """docs/hooks.py, the MkDocs hook that writes the reference pages (it is not a package module)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", REPO / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_has_every_subcommand_and_option() -> None:
    page = _hooks().cli_markdown()
    _, commands = build_parser()
    assert commands, "the parser has no subcommands"
    for name, command in commands.items():
        assert f"## nmt {name}\n" in page
        section = page.split(f"## nmt {name}\n", 1)[1].split("\n## nmt ", 1)[0]
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings or [action.metavar or action.dest]:
                assert f"`{option}`" in section, f"nmt {name}: {option} missing from reference/cli.md"
            if action.help:
                assert " ".join(action.help.split()).replace("|", "\\|") in section
            has_default = action.default not in (None, argparse.SUPPRESS) and action.nargs != 0
            if action.option_strings and has_default:
                assert f"`{action.default}`" in section, f"nmt {name}: default of {action.option_strings[0]}"


def test_the_config_reference_has_every_schema_and_key() -> None:
    hooks = _hooks()
    page = hooks.config_markdown()
    schemas = hooks.schemas().values()
    every_schema = {
        value
        for value in vars(config).values()
        if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == config.__name__
    }
    assert every_schema == set(schemas), "a schema of nmt/config.py has no section in reference/config.md"
    for schema in schemas:
        section = page.split(f"`nmt.config.{schema.__name__}`", 1)[1].split("\n## ", 1)[0]
        for item in dataclasses.fields(schema):
            assert f"| `{item.name}` |" in section, f"{schema.__name__}.{item.name} missing"


def test_field_comments_read_the_lines_above_and_beside_each_key() -> None:
    comments = _hooks().field_comments(config.TransformerConfig)
    assert comments["max_relative_position"].startswith("k > 0: relative positions")
    assert comments["align_layer"].startswith("Which cross-attention translations carry")
    assert comments["d_model"] == ""


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install '.[docs]')")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_MKDOCS_2_WARNING": "1"}
    build = [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")]
    result = subprocess.run(build, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()
