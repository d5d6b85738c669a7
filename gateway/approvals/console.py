"""The approvers' web console at /console: one static page and its script and style.

The page holds no data and needs no sign-in to load; everything it shows comes from the
REST API with the approver's bearer token, kept in sessionStorage. No cookie is used, so
a cross-site request carries no credentials and cross-site request forgery has nothing
to ride on; the strict Content-Security-Policy allows only this origin's script.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

_STATIC = Path(__file__).parent / "static"
_FILES = {"console.js": "text/javascript", "console.css": "text/css", "tools.js": "text/javascript"}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:;"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def _page(request: Request) -> Response:
    return FileResponse(_STATIC / "console.html", media_type="text/html; charset=utf-8", headers=_HEADERS)


async def _tools_page(request: Request) -> Response:
    """The tool reviewers' view (gateway.pins.api): definitions waiting for review, their diff."""
    return FileResponse(_STATIC / "tools.html", media_type="text/html; charset=utf-8", headers=_HEADERS)


async def _asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in _FILES:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(_STATIC / name, media_type=f"{_FILES[name]}; charset=utf-8", headers=_HEADERS)


def routes() -> list[BaseRoute]:
    return [
        Route("/console", _page, methods=["GET"]),
        Route("/console/tools", _tools_page, methods=["GET"]),
        Route("/console/{name}", _asset, methods=["GET"]),
    ]
