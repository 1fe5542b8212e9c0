"""``nmt serve RUN_DIR...``: a translation server and attention explorer in the browser."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.cli.options import DEVICE_HELP
from nmt.errors import NmtError

SUMMARY = "serve runs over HTTP, with an attention explorer at /"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def run(args: argparse.Namespace) -> int:
    try:
        from nmt.serve.server import serve
    except ModuleNotFoundError as e:
        raise NmtError(f"nmt serve needs {e.name}: pip install 'nmt[serve]'") from None
    serve(args.run_dirs, args.host, args.port, args.device)
    return 0
