"""The ASGI app: the JSON API, the explorer page and its static files.

GET  /                 the attention explorer (static/index.html)
GET  /api/models       the loaded runs: name, architecture, attention, languages, parameters, test BLEU
GET  /api/checkpoints  the steps of a run's saved checkpoints (?model=NAME), to watch its alignment form
POST /api/translate    sentences in; per sentence the n-best translations with scores, attention and
                       saliency; or given translations aligned (``target``)
GET  /healthz          liveness, and the number of batched model calls made so far
GET  /docs             the OpenAPI documentation: Swagger UI from the fastapi-offline package (no CDN)

Errors are JSON, ``{"detail": "..."}``: 404 for a model that was not loaded at start, 413 for a
request over a limit (``limits.py``), 422 for a malformed or invalid request, 500 when translating
failed; no request can stop the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from nmt.decoding import DecodeConfig
from nmt.errors import NmtError
from nmt.serve.batching import Batcher
from nmt.serve.engine import Engine, Input, Method, Options
from nmt.serve.limits import BodySizeLimit, JsonDepthLimit, LimitExceeded, Limits
from nmt.serve.snapshots import Snapshots

STATIC = Path(__file__).parent / "static"
DEFAULTS = DecodeConfig()
SWAGGER_UI = files("fastapi_offline") / "static"  # Swagger UI 5 (OpenAPI 3.1), MIT; no CDN needed
# The explorer loads nothing from elsewhere and runs no inline script: injected markup could not run.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)


class TranslateRequest(BaseModel):
    """Sentences to translate with one of the loaded models; decoding options as in `nmt translate`
    (their ranges are ``DecodeConfig``'s, checked in ``_options``)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a name from GET /api/models")
    sentences: list[str] = Field(min_length=1, description="sentences to translate")
    beam: int = Field(5, description="beam size (1: greedy)")
    nbest: int = Field(1, description="translations per sentence, best first (at most beam)")
    alpha: float = Field(0.6, description="GNMT length penalty (0: none)")
    layer: int | None = Field(None, description="Transformer: decoder layer (default: the run's own)")
    head: int | Literal["mean"] | None = Field(
        None, description='Transformer: a head, or "mean" of the heads (default: the run\'s own)'
    )
    pieces: bool = Field(False, description="also return subword pieces and their matrices")
    punctuation: bool = Field(True, description="detach trailing punctuation from words (as nmt align does)")
    method: Method = Field(
        "attention",
        description="what to read: attention, gradient saliency (SmoothGrad), or both with their "
        "Spearman rho (`nmt align --method`)",
    )
    target: list[str] | None = Field(
        None, description="per sentence, a translation to align instead of the model's own (teacher forcing)"
    )
    prefix: str | None = Field(None, min_length=1, description="target text every translation starts with")
    sample: bool = Field(False, description="draw nbest samples instead of searching")
    temperature: float = Field(DEFAULTS.temperature, description="sampling temperature")
    top_k: int = Field(DEFAULTS.top_k, description="sample among the k likeliest tokens (0: all)")
    top_p: float = Field(DEFAULTS.top_p, description="nucleus sampling mass (1: all)")
    seed: int = Field(DEFAULTS.seed, description="sampling seed")
    checkpoint: int | None = Field(
        None, description="a step from GET /api/checkpoints: translate with that saved checkpoint"
    )


def create_app(
    engines: Sequence[Engine], limits: Limits | None = None, batcher: Batcher | None = None
) -> FastAPI:
    """The app serving ``engines`` (loaded once, at start): nothing else can be named by a request."""
    limits = limits or Limits()
    batcher = batcher or Batcher(max_sentences=limits.max_sentences)
    by_name = {engine.name: engine for engine in engines}
    snapshots = Snapshots(by_name)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="nmt",
        summary="Translate and explore attention",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.batcher, app.state.limits, app.state.engines = batcher, limits, by_name
    app.add_middleware(JsonDepthLimit, max_depth=limits.max_json_depth)
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)  # outermost: sizes first
    _add_error_handlers(app)
    app.middleware("http")(_page_policy)
    _add_pages(app)
    app.include_router(_models_router(by_name, snapshots, batcher))
    app.include_router(_translate_router(by_name, snapshots, batcher, limits))
    return app


async def _page_policy(request: Request, call_next: Any) -> Response:
    """Every response: no content-type sniffing, and ``PAGE_POLICY``."""
    response = await call_next(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


def _add_pages(app: FastAPI) -> None:
    """The explorer at /, the offline API documentation at /docs, and their static files."""

    @app.get("/", include_in_schema=False)
    async def explorer() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/swagger-ui", StaticFiles(directory=str(SWAGGER_UI)), name="swagger-ui")


def _named(by_name: dict[str, Engine], model: str) -> Engine:
    """The loaded engine ``model``: 404 for any other name."""
    if model not in by_name:
        raise HTTPException(404, f"unknown model {model!r}; loaded: {', '.join(by_name)}")
    return by_name[model]


def _models_router(by_name: dict[str, Engine], snapshots: Snapshots, batcher: Batcher) -> APIRouter:
    """What is loaded: /healthz, /api/models and each run's saved checkpoints."""
    router = APIRouter()

    @router.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": list(by_name), "batches": batcher.batches}

    @router.get("/api/models")
    async def models() -> list[dict[str, Any]]:
        return [engine.describe() for engine in by_name.values()]

    @router.get("/api/checkpoints")
    async def checkpoints(model: str) -> dict[str, Any]:
        engine = _named(by_name, model)
        steps = snapshots.steps(model)
        note = None
        if len(steps) == 1:
            note = (
                f"{model} has one checkpoint (step {steps[0]}): train with trainer.save_every=N and "
                "trainer.keep_last=K to keep snapshots along the way"
            )
        return {"model": model, "steps": steps, "served": engine.translator.run.step, "note": note}

    return router


def _translate_router(
    by_name: dict[str, Engine], snapshots: Snapshots, batcher: Batcher, limits: Limits
) -> APIRouter:
    """POST /api/translate: checked at once, then translated in the batcher's next batch."""
    router = APIRouter()

    @router.post("/api/translate")
    async def translate(request: TranslateRequest) -> dict[str, Any]:
        engine = _named(by_name, request.model)
        options, inputs = _options(request, engine, limits)
        engine.check(options, inputs)
        if request.checkpoint is not None:
            engine = await asyncio.to_thread(snapshots.engine, request.model, request.checkpoint)
        try:
            results = await batcher.translate(engine, inputs, options)
        except Exception as error:  # logged by the batcher; this request fails, the server goes on
            raise HTTPException(500, f"translation failed: {error!r}") from error
        return {
            "model": request.model,
            "checkpoint": engine.translator.run.step,
            "options": asdict(options),
            "sentences": [
                {"source": source, "nbest": nbest}
                for source, nbest in zip(request.sentences, results, strict=True)
            ],
        }

    return router


def _options(request: TranslateRequest, engine: Engine, limits: Limits) -> tuple[Options, list[Input]]:
    """The request's options with the attention map resolved, and its inputs, checked against the
    limits and the model (raises LimitExceeded, NmtError): requests that mean the same share a batch."""
    _check_sizes(request, limits)
    for name in ("beam", "nbest", "alpha", "temperature", "top_k", "top_p", "seed"):  # `nmt translate`'s
        DecodeConfig.check(name, getattr(request, name), label=name)
    if request.beam > limits.max_beam:
        raise NmtError(f"beam {request.beam} is larger than the limit max_beam = {limits.max_beam}")
    if request.nbest > request.beam and not request.sample:
        raise NmtError(f"nbest {request.nbest} is larger than beam {request.beam} (sample for more outputs)")
    if request.nbest > limits.max_beam:
        raise NmtError(f"nbest {request.nbest} is larger than the limit max_beam = {limits.max_beam}")
    targets = request.target or [None] * len(request.sentences)
    if request.target is not None:
        _check_target(request)
    readings = len(request.sentences) * request.nbest
    if request.method != "attention" and readings > limits.max_saliency_sentences:
        raise LimitExceeded(
            "max_saliency_sentences",
            limits.max_saliency_sentences,
            f"saliency of {readings} translations ({len(request.sentences)} sentences x nbest "
            f"{request.nbest}) in one request",
        )
    layer, head = engine.attention_map(request.layer, request.head)  # NmtError for a map it lacks
    fields = request.model_dump(exclude={"model", "sentences", "layer", "head", "target", "checkpoint"})
    options = Options(**fields, layer=layer, head=head, aligned=request.target is not None)
    return options, [Input(s, t) for s, t in zip(request.sentences, targets, strict=True)]


def _check_sizes(request: TranslateRequest, limits: Limits) -> None:
    """The number of sentences and the characters of each sentence, target and prefix: LimitExceeded."""
    if len(request.sentences) > limits.max_sentences:
        raise LimitExceeded(
            "max_sentences", limits.max_sentences, f"{len(request.sentences)} sentences in one request"
        )
    texts = [("sentence", request.sentences), ("target", request.target or []), ("prefix", [request.prefix])]
    for what, values in texts:
        for number, text in enumerate(values, 1):
            if text is not None and len(text) > limits.max_chars:
                raise LimitExceeded(
                    "max_chars", limits.max_chars, f"{what} {number} has {len(text)} characters"
                )


def _check_target(request: TranslateRequest) -> None:
    """A target per sentence, aligned as the one translation: no search option can apply to it."""
    assert request.target is not None
    if len(request.target) != len(request.sentences):
        raise NmtError(
            f"target: one translation per sentence: {len(request.sentences)} sentence(s), "
            f"{len(request.target)} given"
        )
    if request.prefix is not None:
        raise NmtError("target and prefix: a given target is aligned whole; give one or the other")
    if request.nbest != 1 or request.sample:
        raise NmtError("target: a given translation is aligned as it is: nbest must be 1, without sample")


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as JSON with a "detail" message that a person can act on."""

    @app.exception_handler(LimitExceeded)
    async def over_limit(_: Request, error: LimitExceeded) -> JSONResponse:
        return JSONResponse(error.body(), status_code=413)

    @app.exception_handler(NmtError)
    async def invalid(_: Request, error: NmtError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, error: RequestValidationError) -> JSONResponse:
        message = "; ".join(_describe(e) for e in error.errors()) or "malformed request"
        errors = [{key: e[key] for key in ("type", "loc", "msg") if key in e} for e in error.errors()]
        return JSONResponse({"detail": message, "errors": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(Exception)
    async def failed(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"internal error: {error!r}"}, status_code=500)


def _describe(error: dict[str, Any]) -> str:
    """'body.beam: Input should be greater than or equal to 1', or the JSON parser's complaint."""
    where = ".".join(str(part) for part in error.get("loc", ()))
    if error.get("type") == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'cannot parse')} at {where})"
    return f"{where}: {error.get('msg')}"
