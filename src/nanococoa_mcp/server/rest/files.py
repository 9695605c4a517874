"""Files over HTTP: a job's result images (`/files/{job_id}/{name}`, `?download=1` to save one) and the web
page at `/` (its scripts, styles and thumbnails are mounted at `/static`). Nothing outside the job folders
and the page's own folder is ever served. A job's files come from the blob store (jobs/files.py), so every
replica serves every job's: a file under the data dir, streamed from S3, or a redirect to a presigned URL."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from nanococoa_mcp.blobs import FileBlobs
from nanococoa_mcp.errors import NotFound
from nanococoa_mcp.server.rest.problems import problem_responses
from nanococoa_mcp.service import get_service

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"
router = APIRouter()


def file_url(path: str | None) -> str | None:
    """Where a job's file (a path under the data directory) is served."""
    if not path:
        return None
    p = Path(path)
    return f"/files/{p.parent.name}/{p.name}"


def page(name: str) -> FileResponse:
    """One of the web page's HTML files. Raises NotFound when the package was installed without it."""
    path = WEB_DIR / name
    if not path.is_file():
        raise NotFound(f"the page {name} is not installed", field="path", accepted="/health, /mcp, /docs")
    return FileResponse(path, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.get(
    "/files/{job_id}/{name}",
    summary="A job's result file (final_N.png, step1_N.jpg, cutout.png, previews)",
    response_class=FileResponse,
    responses=problem_responses(
        404, 422, 503, ok={"content": {"image/png": {}, "image/jpeg": {}}, "description": "the image"}
    ),
)
async def result_file(job_id: str, name: str, download: bool = False) -> Response:
    """With `download=1` the browser saves it under a name that says which job it came from. Where the blob
    store hands out presigned URLs (S3 with presign=1), a redirect to one."""
    service = get_service()
    files = service.files
    key = await service.locate_file(job_id, name)
    headers = {"Cache-Control": "private, max-age=3600"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="nanococoa-{job_id[:8]}-{name}"'
    if not download and (url := await files.url(key)) is not None:
        return RedirectResponse(url, status_code=307)
    if isinstance(files.blobs, FileBlobs):
        return FileResponse(files.blobs.local_path(key), headers=headers)
    info = await files.blobs.head(key)
    media = {".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json"}[Path(name).suffix]
    headers["Content-Length"] = str(info.size)
    return StreamingResponse(files.blobs.stream(key), media_type=media, headers=headers)


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The web page: upload a photo, pick styles, follow the job, download the ad."""
    return page("index.html")
