"""The REST shim (FastAPI): the seed's routes and the homepage generator's (ads.py, homepage.py), the cut-out
(cutout.py), result files and the web page (files.py), one error mapping (problems.py). FastAPI serves
`/openapi.json` and `/docs` from the routes' own request and response models; the page's Swagger UI is served
from this port (the files fastapi-offline ships), so it works with no internet. server/http.py mounts it on
the one port beside MCP."""

from __future__ import annotations

from importlib.resources import files as package_files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Lifespan

from nanococoa_mcp import __version__
from nanococoa_mcp.server.rest import ads, cutout, files, homepage, problems

# Swagger UI's script, style and icon, from the fastapi-offline package (it exists to ship them).
DOCS_ASSETS = str(package_files("fastapi_offline") / "static")
DOCS_ASSETS_URL = "/docs-assets"
DESCRIPTION = "Korean product ads and shop homepages: a REST shim over the MCP tool registry (MCP at /mcp and /sse)."


class RestAPI(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, with the problems under their own media type (made once, then kept)."""
        made = self.openapi_schema is None
        doc = super().openapi()
        if made:
            problems.document_as_problem_json(doc)
        return doc


def build_api(lifespan: Lifespan[Any] | None = None) -> FastAPI:
    """Every REST route and the web page; `lifespan` is the one-port app's (it starts the job service)."""
    api = RestAPI(
        title="nanococoa",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served below, with Swagger UI's files from this port
        redoc_url=None,
        lifespan=lifespan,
    )
    problems.install(api)
    for router in (ads.router, cutout.router, homepage.router, files.router):
        api.include_router(router)
    api.mount("/static", StaticFiles(directory=files.WEB_DIR, check_dir=False), name="static")
    api.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        """FastAPI's interactive page for /openapi.json, with Swagger UI served from this port."""
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{api.openapi_url}",
            title="nanococoa - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
        )

    return api
