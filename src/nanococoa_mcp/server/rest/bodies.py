"""Request bodies that carry images and may come two ways, as the seed's clients send them: JSON with each
image as base64, or a form (multipart/form-data or urlencoded) with the same fields as parts and each image
as a file part. FastAPI reads one media type per route, so `UploadRoute` reads a form into the JSON object
its model validates: one model, one validation, one OpenAPI entry for both. The cut-out hints, which a form
can only send as text (`product_box` as "x0,y0,x1,y1" or a JSON array, `product_points` as a JSON array),
are read back into their JSON shape here too.
"""

from __future__ import annotations

import base64
import json
import types
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from nanococoa_mcp.ad.hints import BOX_DESCRIPTION, POINTS_DESCRIPTION, ProductPoint
from nanococoa_mcp.ad.images import ACCEPTED_TEXT
from nanococoa_mcp.ad.stages.cutout import MAX_POINTS
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.service import get_service

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_FORM_FIELDS = 40
JSON_OVERHEAD = 64 * 1024  # what a body holds besides its images


def _box_from_text(value: Any) -> Any:
    """A form's product_box ("x0,y0,x1,y1" or "[x0, y0, x1, y1]", one part) as the list it stands for."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return _json(text, "a JSON array [x0, y0, x1, y1]")
    return [part.strip() for part in text.split(",")]


def _points_from_text(value: Any) -> Any:
    """A form's product_points (a JSON array of {x, y, label}, in one part or one point per part) as a list."""
    parts = value if isinstance(value, list) else [value]
    if not any(isinstance(p, str) for p in parts):
        return value
    points: list[Any] = []
    for part in parts:
        got = _json(part, "a JSON array of {x, y, label}") if isinstance(part, str) else part
        points.extend(got if isinstance(got, list) else [got])
    return points


def _json(text: str, accepted: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"not JSON: expected {accepted}") from None


FORM_NOTE = " In a form: product_box as text \"x0,y0,x1,y1\" or a JSON array; product_points as a JSON array."
FormBox = Annotated[
    Annotated[list[float], Field(min_length=4, max_length=4)] | None,
    BeforeValidator(_box_from_text),
    Field(description=BOX_DESCRIPTION + FORM_NOTE),
]
FormPoints = Annotated[
    Annotated[list[ProductPoint], Field(max_length=MAX_POINTS)] | None,
    BeforeValidator(_points_from_text),
    Field(description=POINTS_DESCRIPTION + FORM_NOTE),
]


class UploadBody(BaseModel):
    """A request body whose `image_fields` hold base64 images (in a form: file parts, or base64 in text
    parts), at most `max_images` of them in all."""

    model_config = ConfigDict(extra="forbid")

    image_fields: ClassVar[tuple[str, ...]] = ()
    max_images: ClassVar[int] = 1


def form_alternative(model: type[UploadBody]) -> dict[str, Any]:
    """The route's OpenAPI `requestBody` entry for the form (FastAPI writes the JSON one from the model)."""
    images = {"contentType": "image/*"}
    form = {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
        "encoding": {name: images for name in model.image_fields},
    }
    return {"requestBody": {"content": {"multipart/form-data": form}}}


class UploadRoute(APIRoute):
    """A route whose UploadBody may also come as a form (and whose OpenAPI entry says so). Either way a body
    larger than its images allow is refused unread, naming the image field."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        model = _upload_model(self)
        if model is not None:
            self.openapi_extra = {**form_alternative(model), **(self.openapi_extra or {})}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        model = _upload_model(self)
        if model is None:
            return handler

        async def read_json_or_form(request: Request) -> Response:
            max_bytes = get_service().settings.max_upload_bytes
            _check_length(request, model, max_bytes)
            if request.headers.get("content-type", "").startswith(FORM_TYPES):
                request = _as_json(request, await _read_form(request, model, max_bytes))
            return await handler(request)

        return read_json_or_form


def _upload_model(route: APIRoute) -> type[UploadBody] | None:
    if route.body_field is None:
        return None
    annotation = route.body_field.field_info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, UploadBody) else None


def _check_length(request: Request, model: type[UploadBody], max_bytes: int) -> None:
    declared = request.headers.get("content-length", "")
    limit = model.max_images * (max_bytes * 4 // 3) + JSON_OVERHEAD
    if declared.isdigit() and int(declared) > limit:
        images = "images" if model.max_images == 1 else f"{model.max_images} images"
        raise InvalidInput(
            "the request body is larger than the upload limit",
            field=model.image_fields[0],
            accepted=f"{images} up to {max_bytes / 1_048_576:.0f} MB",
        )


async def _read_form(request: Request, model: type[UploadBody], max_bytes: int) -> dict[str, Any]:
    """The form as the JSON object its model reads: text parts as they are, file parts as base64, the parts
    of a list field in order. Empty parts (a form's untouched inputs) are left out."""
    lists = {name for name, info in model.model_fields.items() if _is_list(info.annotation)}
    many = any(name in lists for name in model.image_fields)
    data: dict[str, Any] = {}
    try:
        # A text part may carry an image as base64, a third larger than the file.
        async with request.form(
            max_files=model.max_images + (1 if many else 0),  # room for a browser's empty file input
            max_fields=MAX_FORM_FIELDS,
            max_part_size=max_bytes * 4 // 3 + JSON_OVERHEAD,
        ) as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key not in model.image_fields:
                        raise InvalidInput(
                            f"unexpected file field {key!r}", field=key, accepted=", ".join(model.image_fields)
                        )
                    if not value.filename and not value.size:
                        continue
                    text = base64.b64encode(await value.read(max_bytes + 1)).decode()
                elif value == "":
                    continue
                else:
                    text = value
                if key in lists:
                    data.setdefault(key, []).append(text)
                elif key in data:
                    raise InvalidInput(f"{key} was given twice", field=key, accepted="one value (one file or one text)")
                else:
                    data[key] = text
    except HTTPException as exc:  # Starlette's answer to a malformed or oversized form
        too_many_files = "files" in str(exc.detail)
        raise InvalidInput(
            f"the form was refused: {exc.detail}",
            field=model.image_fields[0] if too_many_files and many else "body",
            accepted=f"multipart/form-data: up to {model.max_images} {ACCEPTED_TEXT} file(s) of "
            f"{max_bytes / 1_048_576:.0f} MB, {MAX_FORM_FIELDS} fields",
        ) from None
    return data


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return _is_list(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_list(a) for a in get_args(annotation))
    return get_origin(annotation) is list


def _as_json(request: Request, data: dict[str, Any]) -> Request:
    """The request again, as if its client had sent `data` as JSON."""
    body = json.dumps(data).encode()
    headers = [(k, v) for k, v in request.scope["headers"] if k not in (b"content-type", b"content-length")]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await request.receive()  # the form is read: what comes next is a disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({**request.scope, "headers": headers}, receive)
