"""MkDocs hook: the reference pages, generated from the code at every build so they cannot go stale.

The measured figures and tables under ``data/results/`` join the site at the same path, so the pages
show the committed files themselves rather than copies.
``reference/cli.md`` is written from ``nmt.cli.build_parser()`` (every subcommand, every option with
its help and default) and ``reference/config.md`` from the dataclass schemas of ``nmt.config`` (every
group and key with its type, default and the comment that explains it). Neither file exists on disk.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import tokenize
from pathlib import Path

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results"


def on_files(files: Files, config) -> Files:
    """Add the two generated pages and the files of ``data/results/`` to the site."""
    pages = {"reference/cli.md": cli_markdown(), "reference/config.md": config_markdown()}
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    for result in sorted(p for p in RESULTS.rglob("*") if p.is_file()):
        path = result.relative_to(RESULTS.parents[1]).as_posix()
        files.append(File.generated(config, path, abs_src_path=str(result)))
    return files


# ---------------------------------------------------------------- the command line
def cli_markdown() -> str:
    """The ``nmt`` command's reference: one section per subcommand, one table row per option."""
    from nmt.cli import build_parser

    parser, commands = build_parser()
    lines = [
        "# Command line",
        "",
        "Generated from `nmt.cli.build_parser()` when the site is built; `nmt COMMAND --help` prints "
        "the same.",
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
    ]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    for name, command in commands.items():
        lines += _command_section(name, command, helps.get(name) or "")
    return "\n".join(lines) + "\n"


def _command_section(name: str, command: argparse.ArgumentParser, summary: str) -> list[str]:
    lines = [f"## nmt {name}", "", _escape(command.description or summary), ""]
    lines += ["```text", command.format_usage().strip(), "```", ""]
    actions = [action for action in command._actions if not isinstance(action, argparse._HelpAction)]
    if name == "train":
        lines += [
            "`nmt train` passes everything after it to Hydra: `key=value` overrides of the "
            "[configuration](config.md), `-m` for sweeps, `--help` for Hydra's own help.",
            "",
        ]
    if actions:
        lines += ["| Option | Default | Meaning |", "| --- | --- | --- |"]
        lines += [_action_row(action) for action in actions]
        lines.append("")
    if command.epilog:
        lines += [_escape(command.epilog), ""]
    return lines


def _action_row(action: argparse.Action) -> str:
    options = [f"`{option}`" for option in action.option_strings]
    names = ", ".join(options) or f"`{action.metavar or action.dest}`"
    if action.option_strings and action.nargs != 0:
        names += f" `{action.metavar or action.dest.upper()}`"
    shown = action.default not in (None, argparse.SUPPRESS) and action.nargs != 0
    default = f"`{action.default}`" if shown else ""
    return f"| {names} | {default} | {_escape(action.help or '')} |"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------- the configuration
def schemas() -> dict[str, type]:
    """The configuration groups and the dataclass schema each is checked against."""
    from nmt import config

    return {
        "top level": config.Config,
        "data": config.DataConfig,
        "data.train / valid / test (and each of data.extra_train)": config.SplitConfig,
        "data.*.src / tgt / tsv": config.FileConfig,
        "data.*.hub": config.HubConfig,
        "data.hash_split": config.HashSplitConfig,
        "data.clean": config.CleanConfig,
        "data.spm": config.SubwordConfig,
        "model (RNN: rnn_schema)": config.RNNConfig,
        "model (Transformer: transformer_schema)": config.TransformerConfig,
        "trainer": config.TrainerConfig,
    }


def config_markdown() -> str:
    """The configuration's reference: one table per schema, one row per key."""
    lines = [
        "# Configuration keys",
        "",
        "Generated from the dataclass schemas in `nmt/config.py` when the site is built. Every YAML "
        "file under `configs/` is merged onto one of these schemas, so a misspelt key stops "
        "`nmt train` at start-up with the key's name. Override any key on the command line: "
        "`nmt train model=transformer trainer.max_steps=2000 model.heads=8`.",
        "",
    ]
    for group, schema in schemas().items():
        lines += [f"## {group}", "", f"`{schema.__module__}.{schema.__name__}`: {_doc(schema)}", ""]
        lines += ["| Key | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
        comments = field_comments(schema)
        for item in dataclasses.fields(schema):
            meaning = _escape(comments.get(item.name, ""))
            lines.append(f"| `{item.name}` | `{_escape(str(item.type))}` | {_default(item)} | {meaning} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _doc(schema: type) -> str:
    doc = schema.__doc__ or ""
    return "" if doc.startswith(schema.__name__ + "(") else " ".join(doc.split())


def _default(item: dataclasses.Field) -> str:
    if item.default is not dataclasses.MISSING:
        value = item.default
    elif item.default_factory is not dataclasses.MISSING:
        value = item.default_factory()
        if dataclasses.is_dataclass(value):
            return f"a {type(value).__name__}"
    else:
        return "required"
    return "required" if value == "???" else f"`{_escape(repr(value))}`"


def field_comments(schema: type) -> dict[str, str]:
    """Each field's comments in the schema's source: the lines above it and the one after it."""
    source = inspect.getsource(schema)
    lines_of = {
        node.target.id: node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    meaning = {}
    for name, line in lines_of.items():
        above, row = [], line - 1
        while row in comments and not _is_field_line(row, lines_of):
            above.insert(0, comments[row])
            row -= 1
        meaning[name] = " ".join([*above, comments.get(line, "")]).strip()
    return meaning


def _is_field_line(row: int, lines_of: dict[str, int]) -> bool:
    return row in lines_of.values()
