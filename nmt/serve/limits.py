"""Request limits: what one request may ask of the server, and the body-size guard in front of the app.

A request over a limit is refused with 413 and a JSON body naming the limit:
``{"detail": "...", "limit": "max_sentences", "allowed": 64}``. Other bad requests get 422.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Limits:
    """The most one request may ask for."""

    max_body_bytes: int = 256 * 1024  # the request body as sent
    max_sentences: int = 64  # sentences in one request
    max_chars: int = 1000  # characters in one sentence
    max_beam: int = 16  # beam size (and so n-best size, samples included)
    max_saliency_sentences: int = 8  # translations read with saliency (a backward pass per target word)
    max_json_depth: int = 16  # arrays and objects nested in the body (a translate request needs 2)


class LimitExceeded(HTTPException):
    """A request over one of the ``Limits``: answered with 413 and the name of the limit."""

    def __init__(self, limit: str, allowed: int, message: str) -> None:
        super().__init__(413, f"{message} (limit {limit} = {allowed})")
        self.limit, self.allowed = limit, allowed

    def body(self) -> dict[str, object]:
        return {"detail": self.detail, "limit": self.limit, "allowed": self.allowed}


def _refuse(exceeded: LimitExceeded) -> list[Message]:
    """The 413 response naming the limit, as ASGI messages."""
    body = json.dumps(exceeded.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": 413, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


class BodySizeLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` with 413 before the app parses it.

    A declared Content-Length over the limit is refused at once; a body sent in chunks is counted
    as it arrives, and reading past the limit is refused with the same 413 (the inner layers read the
    whole body before they answer, so no response has started then).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            for message in _refuse(self._exceeded()):
                await send(message)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._exceeded()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except LimitExceeded as exceeded:  # raised by counting_receive, wherever the body was read
            for message in _refuse(exceeded):
                await send(message)

    def _exceeded(self) -> LimitExceeded:
        return LimitExceeded("max_body_bytes", self.max_bytes, "the request body is too large")


STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')  # a JSON string, escapes included


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text ``body`` (brackets inside strings ignored)."""
    depth = deepest = 0
    for bracket in STRING.sub(b"", body).translate(None, delete=bytes(set(range(256)) - set(b"[]{}"))):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


class JsonDepthLimit:
    """ASGI middleware: refuse a body whose JSON nests deeper than ``max_depth`` with 413, before the
    app's parser recurses into it. The body (already bounded by ``BodySizeLimit``) is read whole,
    measured, then handed on."""

    def __init__(self, app: ASGIApp, max_depth: int) -> None:
        self.app, self.max_depth = app, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        chunks, message = [], {"more_body": True}
        while message.get("more_body", False):
            message = await receive()
            chunks.append(message.get("body", b""))
        body = b"".join(chunks)
        if json_depth(body) > self.max_depth:
            exceeded = LimitExceeded("max_json_depth", self.max_depth, "the JSON body nests too deeply")
            for reply in _refuse(exceeded):
                await send(reply)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
