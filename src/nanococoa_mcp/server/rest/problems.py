"""The REST door's one error mapping: nanococoa's typed errors, refused requests (FastAPI's validation and
pydantic's), unknown routes and wrong methods become `application/problem+json` bodies naming the field and
what is accepted. An expected error is one log line; anything else is masked (the server logs its traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nanococoa_mcp.errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    JobFailed,
    NanococoaError,
    NotFound,
    QuotaExceeded,
    field_path,
)
from nanococoa_mcp.jobs.models import QueueFull
from nanococoa_mcp.storage import StorageError, StorageUnavailable

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
SOURCES = ("body", "query", "path", "header", "cookie")  # where FastAPI says a refused value came from
RETRY_AFTER_S = "5"  # a full queue, a missing backend or a database restarting: worth asking again shortly


class ProblemDetail(BaseModel):
    """Every error answer: what went wrong, the request field at fault and what it accepts."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="invalid_input, not_found, queue_full, conflict, storage_error, ...")
    message: str
    field: str | None = None
    accepted: str | None = None
    status: int
    quota: str | None = Field(
        default=None, description="quota_exceeded: which quota (queued_jobs, jobs_per_hour, stored_mb)."
    )
    limit: float | None = Field(default=None, description="quota_exceeded: the tenant's limit.")
    used: float | None = Field(default=None, description="quota_exceeded: the tenant's use now.")
    retry_after_s: int | None = Field(default=None, description="quota_exceeded: seconds until asking may pass.")


def problem_responses(*codes: int, ok: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries of a route's possible problems (and of a 200 it describes itself)."""
    words = {
        404: "not found",
        409: "conflict",
        422: "invalid input",
        429: "queue full, or the tenant over a quota (Retry-After)",
        503: "service unavailable (Retry-After)",
        507: "disk full",
    }
    responses: dict[int | str, dict[str, Any]] = {200: ok} if ok is not None else {}
    return responses | {code: {"model": ProblemDetail, "description": words[code]} for code in codes}


def document_as_problem_json(doc: dict[str, Any]) -> None:
    """FastAPI documents every response model under the route's own media type (application/json, or
    text/event-stream for a stream); problems are served as application/problem+json, and the document
    says so."""
    ref = {"$ref": "#/components/schemas/ProblemDetail"}
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                if any(c.get("schema") == ref for c in response.get("content", {}).values()):
                    response["content"] = {PROBLEM_JSON: {"schema": ref}}


def status_code(exc: NanococoaError) -> int:
    if isinstance(exc, QueueFull | QuotaExceeded):
        return 429
    if isinstance(exc, InvalidInput):
        return 422 if exc.code == "invalid_input" else 400
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, BackendUnavailable | StorageUnavailable):
        return 503
    if isinstance(exc, StorageError):
        return 507
    if isinstance(exc, JobFailed):
        return 500
    return 400


def problem(exc: NanococoaError) -> JSONResponse:
    code = status_code(exc)
    headers = {"Retry-After": RETRY_AFTER_S} if code in (429, 503) else None
    if isinstance(exc, QuotaExceeded):
        headers = {"Retry-After": str(max(1, exc.retry_after_s))}
    return JSONResponse({**exc.to_dict(), "status": code}, status_code=code, headers=headers, media_type=PROBLEM_JSON)


# ---------------------------------------------------------------- refused requests


def invalid_input(errors: Sequence[Any], model: type[BaseModel] | None = None) -> InvalidInput:
    """A validation's first error as InvalidInput: `photos[0]`, not `body.photos.0`; `accepted` from the
    error's bounds, else from the description of the field in `model` (the refused body's model)."""
    first = errors[0]
    source, *loc = first["loc"] if first["loc"] and first["loc"][0] in SOURCES else (None, *first["loc"])
    model = model if source == "body" else None  # a query or path parameter is no field of the body
    if first["type"] == "json_invalid":
        return InvalidInput(
            f"the body is not JSON: {(first.get('ctx') or {}).get('error', first['msg'])}",
            field="body",
            accepted="a JSON object, or multipart/form-data",
        )
    field = field_path(loc) or "body"
    return InvalidInput(first["msg"], field=field, accepted=_accepted(first, loc, model))


def _accepted(error: Any, loc: list[Any], model: type[BaseModel] | None) -> str:
    ctx = error.get("ctx") or {}
    fields = model.model_fields if model is not None else {}
    if error["type"] == "extra_forbidden":
        return f"the fields {', '.join(fields)}" if fields else "only the fields in /openapi.json"
    if not loc:
        return "a JSON object, or multipart/form-data" if model is not None else "see /openapi.json"
    if "expected" in ctx:
        return str(ctx["expected"])
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    bounds = [f"{words[k]} {v}" for k, v in ctx.items() if k in words]
    if "max_length" in ctx:
        bounds.append(f"at most {ctx['max_length']} {'characters' if error['type'].startswith('string') else 'items'}")
    if "min_length" in ctx:
        bounds.append(f"at least {ctx['min_length']} {'characters' if error['type'].startswith('string') else 'items'}")
    if bounds:
        return ", ".join(bounds)
    info = fields.get(str(loc[0]))
    if info is not None and info.description:
        return info.description
    kinds = {"int": "a whole number", "float": "a number", "bool": "true or false", "list": "a list", "string": "text"}
    return next((v for k, v in kinds.items() if error["type"].startswith(k)), "see /openapi.json")


def _body_model(request: Request) -> type[BaseModel] | None:
    """The body model of the route that refused the request (its fields name what is accepted)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return None
    annotation = route.body_field.field_info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


# ---------------------------------------------------------------- handlers


async def _on_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NanococoaError)
    response = problem(exc)
    # Expected (the caller's mistake, a busy server, a full disk): one line and no traceback.
    level = logging.WARNING if response.status_code >= 500 else logging.INFO
    log.log(level, "%s %s -> %d %s", request.method, request.url.path, response.status_code, exc)
    return response


async def _on_request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return await _on_error(request, invalid_input(exc.errors(), _body_model(request)))


async def _on_validation(request: Request, exc: Exception) -> Response:
    """A model a route builds from what it was given (the tools' request models) refused it."""
    assert isinstance(exc, ValidationError)
    return await _on_error(request, invalid_input(exc.errors()))


async def _on_http(request: Request, exc: Exception) -> Response:
    """Starlette's own answers: no such route (404), wrong method (405), a body it could not read."""
    assert isinstance(exc, HTTPException)
    code = exc.status_code
    error = {404: "not_found", 405: "method_not_allowed"}.get(code, "http_error")
    detail = {404: "no such route", 405: "method not allowed"}.get(code, str(exc.detail))
    body = ProblemDetail(
        error=error,
        message=f"{request.method} {request.url.path}: {detail}",
        field="path" if code in (404, 405) else "body",
        accepted="the routes in /openapi.json",
        status=code,
    )
    log.info("%s %s -> %d %s", request.method, request.url.path, code, error)
    # exclude_none: the quota fields are a quota problem's only
    body_json = body.model_dump(exclude_none=True)
    return JSONResponse(body_json, status_code=code, headers=exc.headers, media_type=PROBLEM_JSON)


async def _on_unexpected(_request: Request, _exc: Exception) -> Response:
    """Masked: the caller learns nothing of the internals; Starlette re-raises it for the server to log."""
    body = {"error": "internal_error", "message": "the request failed unexpectedly", "status": 500}
    return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON)


def install(api: FastAPI) -> None:
    """Register the mapping on `api`."""
    api.add_exception_handler(NanococoaError, _on_error)
    api.add_exception_handler(RequestValidationError, _on_request_validation)
    api.add_exception_handler(ValidationError, _on_validation)
    api.add_exception_handler(HTTPException, _on_http)
    api.add_exception_handler(Exception, _on_unexpected)
