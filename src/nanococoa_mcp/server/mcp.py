"""The MCP door: registers every tool of the registry on a FastMCP server, maps errors in one place,
and adds a small inline preview plus resource links to results that made images.

Over HTTP, each MCP request acts for the caller that the HTTP door verified and left in the request's scope
(`CallerMiddleware`): a session's messages are served by a task the session's first request started, so a
context variable set around one HTTP request does not reach the next one's tool call."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import mcp.types as mt
from fastmcp import FastMCP
from fastmcp.server.dependencies import get_http_request
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import ToolResult
from pydantic import ValidationError

from nanococoa_mcp import __version__
from nanococoa_mcp.ad.pipeline import ProgressEvent
from nanococoa_mcp.errors import InvalidInput, NanococoaError, NotFound, field_path
from nanococoa_mcp.server.auth import verified_caller
from nanococoa_mcp.service import current_service
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.tenancy import acting_as
from nanococoa_mcp.tools import TOOLS, ToolSpec
from nanococoa_mcp.tools.context import progress_sink

log = logging.getLogger(__name__)
# What runs for the server's lifetime (the job service): app.py hands it in; a door never starts the runtime.
Lifespan = Callable[[], AbstractAsyncContextManager[object]]
INSTRUCTIONS = (
    "nanococoa makes Korean product ads. Give generate_ad_image a product photo (path or base64) and a "
    "line of Korean copy; it returns a job id at once (poll check_generation_status) or, with wait=true, "
    "the finished ad. list_styles names the scene and text styles. Results carry file paths, a small "
    "preview and a quality report (product pixels unchanged, copy never over the product, contrast >= 4.5). "
    "To change only the copy, re-run a finished job with parent_id and start_step=2. "
    "If you can see the photo and it is cluttered or holds several objects, pass product_box [x0, y0, x1, y1] "
    "around the product (pixels, or fractions 0-1); an ad that came back as a photo_card or with low cut-out "
    "confidence gets a cut-out when re-run with parent_id, start_step=1 and a product_box. "
    "For a shop's website: save the shop with create_store (its record and product photos), then "
    "generate_homepage(store_id) starts a job like an ad's; its result names the site's folder and pages."
)


def to_tool_error(exc: BaseException) -> ToolResult:
    """The one mapping from exceptions to MCP tool errors; unexpected ones are logged and masked."""
    if isinstance(exc, ValidationError):  # arguments the tool's schema refuses (type, range, literal)
        first = exc.errors()[0]
        field = field_path([p for p in first["loc"] if p != "arguments"]) or None
        payload = InvalidInput(first["msg"], field=field, accepted=_accepted(first)).to_dict()
    elif isinstance(exc, NanococoaError):
        payload = exc.to_dict()
    else:
        log.exception("tool failed", exc_info=exc)
        payload = {"error": "internal_error", "message": "the tool failed unexpectedly; see the server log"}
    return ToolResult(
        content=[mt.TextContent(type="text", text=json.dumps(payload, ensure_ascii=False))],
        structured_content=None,
        is_error=True,
    )


class ExpectedErrorsAsOneLine(logging.Filter):
    """FastMCP logs a failed tool call with its traceback. A typed error of ours (an unknown job id, a bad
    photo) is the caller's mistake, answered as a tool error: log it as one INFO line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        cause = exc.__cause__ if exc is not None and exc.__cause__ is not None else exc
        if isinstance(cause, NanococoaError):
            record.msg, record.args = "%s: %s (%s)", (record.getMessage(), cause.code, cause)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _quiet_expected_errors() -> None:
    tool_log = logging.getLogger("fastmcp.server.server")  # where FastMCP reports a tool that raised
    if not any(isinstance(f, ExpectedErrorsAsOneLine) for f in tool_log.filters):
        tool_log.addFilter(ExpectedErrorsAsOneLine())


def _accepted(error: Any) -> str:
    ctx = error.get("ctx") or {}
    if "expected" in ctx:
        return str(ctx["expected"])
    bounds = [f"{k.replace('_', ' ')} {v}" for k, v in ctx.items() if k in ("ge", "gt", "le", "lt")]
    return ", ".join(bounds) or "see the tool's input schema"


def _job_resource_uri(path: str) -> str | None:
    p = Path(path)
    if p.parent.parent.name not in ("jobs", "steps"):
        return None
    return f"nanococoa://{p.parent.parent.name}/{p.parent.name}/{p.name}"


async def _read(path: str) -> bytes | None:
    """A job's file named by its path (`…/jobs/ID/NAME`, `…/steps/ID/NAME`), read from the job service's
    blob store, so any replica reads what any worker made; None when there is no such file."""
    p = Path(path)
    service = current_service()
    if service is None or p.parent.parent.name not in ("jobs", "steps"):
        return None
    try:
        return await service.read_file(p.parent.name, p.name)
    except NotFound:
        return None


async def _image_blocks(structured: dict[str, Any]) -> list[mt.ContentBlock]:
    """A ≤512 px preview inline (never the full image), and links to the full files."""
    blocks: list[mt.ContentBlock] = []
    structured = structured.get("result") or structured  # a job's status carries its result.json
    previews = [v["preview_path"] for v in structured.get("variants", [])]
    if structured.get("preview_path"):  # a cut-out's (null while its job runs)
        previews.append(structured["preview_path"])
    shown = 0
    for path in previews:
        data = await _read(path) if shown < 2 else None  # two at most: enough to choose, small for the context
        if data is not None:
            shown += 1
            blocks.append(mt.ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type="image/jpeg"))
    files = [v["image_path"] for v in structured.get("variants", [])]
    files += [structured[k] for k in ("cutout_path",) if structured.get(k)]
    step1 = structured.get("step1_result")
    if not previews and step1 and (data := await _read(step1)) is not None:  # a running job: step 1 so far
        blocks.append(mt.ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type="image/jpeg"))
        files.append(step1)
    for path in files:
        uri = _job_resource_uri(path)
        if uri:
            mime = "image/jpeg" if path.endswith(".jpg") else "image/png"
            blocks.append(mt.ResourceLink(type="resource_link", uri=uri, name=Path(path).name, mime_type=mime))
    return blocks


class CallerMiddleware(Middleware):
    """Serves each MCP request as the caller the HTTP door verified for the HTTP request that carried it. The
    SDK runs handlers in its session's tasks, which do not inherit the door's context, so the caller is taken
    from that request's scope; stdio and auth off keep the context's own (the local tenant)."""

    async def on_request(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        try:
            caller = verified_caller(get_http_request().scope)
        except RuntimeError:  # no HTTP request: stdio, or an in-memory client
            caller = None
        if caller is None:
            return await call_next(context)
        with acting_as(caller):
            return await call_next(context)


class NanococoaMiddleware(Middleware):
    def __init__(self, specs: dict[str, ToolSpec]) -> None:
        self.specs = specs

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        name = context.message.name
        spec = self.specs.get(name)
        sink = _ProgressSink(context.fastmcp_context)
        token = progress_sink.set(sink)
        try:
            result = await call_next(context)
        except Exception as exc:  # the single mapping point for tool errors
            cause = exc.__cause__ if isinstance(exc.__cause__, (NanococoaError, ValidationError)) else exc
            return to_tool_error(cause)
        finally:
            progress_sink.reset(token)
            await sink.drain()  # every progress notification goes out before the result, never after
        if spec is not None and spec.makes_images and result.structured_content:
            result.content = list(result.content) + await _image_blocks(result.structured_content)
        return result


class _ProgressSink:
    """Forwards a job's progress, as the tool following it sees it, as MCP progress notifications of this
    request (callable from any thread)."""

    def __init__(self, fctx: Any) -> None:
        self.fctx = fctx
        self.loop = asyncio.get_running_loop()
        self.context = contextvars.copy_context()  # the request's context: FastMCP finds its session there
        self.tasks: list[asyncio.Task[None]] = []
        self.last = -1.0

    def __call__(self, event: ProgressEvent) -> None:
        if self.fctx is not None:
            self.loop.call_soon_threadsafe(self._send, event)

    def _send(self, event: ProgressEvent) -> None:
        if event.percent < self.last:  # progress only grows
            return
        self.last = event.percent
        message = f"{event.step}/{event.sub_step}: {event.message}"
        coro = self.fctx.report_progress(progress=event.percent, total=100.0, message=message)
        self.tasks.append(self.loop.create_task(coro, context=self.context))

    async def drain(self) -> None:
        await asyncio.sleep(0)  # let callbacks queued from other threads create their tasks
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


def build_server(settings: Settings | None = None, lifespan: Lifespan | None = None) -> FastMCP:
    """The MCP server over the registry. `lifespan` (app.py's: the job service) runs for its lifetime; without
    one, the tools use the job service already running in this process."""

    @contextlib.asynccontextmanager
    async def run_lifespan(_server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        if lifespan is None:
            yield {}
            return
        async with lifespan():
            yield {}

    _quiet_expected_errors()
    server: FastMCP = FastMCP(
        name="nanococoa", version=__version__, instructions=INSTRUCTIONS, lifespan=run_lifespan
    )
    specs = {spec.name: spec for spec in TOOLS}
    for spec in TOOLS:
        server.tool(
            spec.fn,
            name=spec.name,
            title=spec.title,
            annotations=mt.ToolAnnotations(
                title=spec.title,
                read_only_hint=spec.read_only,
                destructive_hint=spec.destructive,
                idempotent_hint=spec.idempotent,
                open_world_hint=False,
            ),
        )
    server.add_middleware(CallerMiddleware())
    server.add_middleware(NanococoaMiddleware(specs))

    @server.resource(
        "nanococoa://jobs/{job_id}/{filename}",
        mime_type="image/png",
        description="A result file of a job (final_N.png, step1_N.png, cutout.png, preview_N.jpg).",
    )
    async def job_file(job_id: str, filename: str) -> bytes:
        return await _read_job_file(job_id, filename)

    @server.resource(
        "nanococoa://steps/{job_id}/{filename}",
        mime_type="image/jpeg",
        description="A preview of a job's finished step (step1_N.jpg), readable while the job still runs.",
    )
    async def step_file(job_id: str, filename: str) -> bytes:
        return await _read_job_file(job_id, filename)

    return server


async def _read_job_file(job_id: str, filename: str) -> bytes:
    """From the job service's blob store, whichever machine made it. Raises NotFound."""
    service = current_service()
    try:
        if service is None:
            raise NotFound("no job service runs here")
        return await service.read_file(job_id, filename)
    except NotFound:
        missing = f"no file {filename} in job {job_id}"
        raise NotFound(missing, field="uri", accepted="a link from a tool result") from None
