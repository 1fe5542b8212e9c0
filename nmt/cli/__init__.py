"""The ``nmt`` command: one module per subcommand, each thin (parse its options, call the library,
print). ``build_parser`` composes them; ``main`` runs one and turns an ``NmtError`` into one line on
stderr and exit status 1 (130 on Ctrl-C).

Every command module declares ``SUMMARY`` (its line in ``nmt --help``), ``add_arguments(parser)``
and ``run(args) -> int``, and imports the library inside ``run``: ``nmt COMMAND`` loads what
COMMAND needs and no more. ``nmt train`` hands its arguments to Hydra (``nmt.train``).
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from nmt import __version__
from nmt.cli import aer, align, average, compare, evaluate, export, score, serve, train, translate
from nmt.cli.options import HelpFormatter
from nmt.errors import NmtError

COMMANDS = (translate, export, score, evaluate, align, aer, compare, average, serve)  # after train
DESCRIPTION = """Neural machine translation for learning, teaching and researching attention.

`nmt COMMAND --help` shows a command's options and their defaults."""


def main(argv: list[str] | None = None) -> int:
    """Run ``nmt ARGV`` (default: the process's arguments); returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        return train.run(argv[1:])
    parser, commands = build_parser()
    if not argv or argv[0] not in commands:
        parser.parse_args(argv)  # prints usage, help or the version, and exits
    args = commands[argv[0]].parse_intermixed_args(argv[1:])  # sentences may follow options
    args.command = argv[0]
    try:
        return args.func(args)
    except NmtError as e:
        print(f"nmt {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``nmt`` parser and its subcommands' parsers, by name."""
    parser = argparse.ArgumentParser(prog="nmt", description=DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"nmt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_command(commands, train)  # its arguments go to Hydra: listed, never parsed here
    for module in COMMANDS:
        command = _add_command(commands, module)
        module.add_arguments(command)
        command.set_defaults(func=module.run)
    return parser, commands.choices


def _add_command(commands: argparse._SubParsersAction, module: ModuleType) -> argparse.ArgumentParser:
    """The parser of the command ``module`` implements, named after it, its ``SUMMARY`` its help."""
    name = module.__name__.rpartition(".")[2]
    summary = module.SUMMARY
    return commands.add_parser(
        name, help=summary.replace("%", "%%"), description=summary, formatter_class=HelpFormatter
    )
