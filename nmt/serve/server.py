"""`nmt serve`: load the runs once, then serve the app with uvicorn until Ctrl-C."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn

from nmt.errors import NmtError
from nmt.serve.app import create_app
from nmt.serve.engine import load_engines
from nmt.serve.limits import Limits


class Server(uvicorn.Server):
    """uvicorn's server that knows its address once it listens (``url``) and passes it to ``on_ready``."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None] | None = None) -> None:
        super().__init__(config)
        self.url: str | None = None
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
        if self.on_ready:
            self.on_ready(self.url)


def serve(
    run_dirs: Sequence[str | Path],
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "auto",
    limits: Limits | None = None,
) -> None:
    """Serve the runs on host:port (port 0: a free port) until interrupted; says where once it listens."""
    engines = load_engines(run_dirs, device)
    names = ", ".join(engine.name for engine in engines)

    def ready(url: str) -> None:
        print(f"nmt serve: {names}\nopen {url} in a browser (API docs: {url}docs); Ctrl-C stops", flush=True)

    app = create_app(engines, limits)
    server = Server(uvicorn.Config(app, host=host, port=port, log_level="warning"), ready)
    try:
        server.run()
    except SystemExit:  # uvicorn could not start and has logged why
        raise NmtError(f"cannot serve on {host}:{port} (see the message above)") from None
    except KeyboardInterrupt:  # uvicorn has shut down cleanly and passes the Ctrl-C on
        pass
    print("nmt serve: stopped", flush=True)
