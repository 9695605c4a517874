"""The REST shim (FastAPI): the seed's routes and the homepage generator's (ads.py, homepage.py), the cut-out
(cutout.py), result files and the web page (files.py), one error mapping (problems.py). FastAPI serves
`/openapi.json` and `/docs` from the routes' own request and response models. server/http.py mounts it on the
one port beside MCP."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Lifespan

from nanococoa_mcp import __version__
from nanococoa_mcp.server.rest import ads, cutout, files, homepage, problems

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
    api = RestAPI(title="nanococoa", version=__version__, description=DESCRIPTION, redoc_url=None, lifespan=lifespan)
    problems.install(api)
    for router in (ads.router, cutout.router, homepage.router, files.router):
        api.include_router(router)
    api.mount("/static", StaticFiles(directory=files.WEB_DIR, check_dir=False), name="static")
    return api
