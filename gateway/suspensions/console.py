"""The kill switch in the web console, at /console/agents: suspend, see and resume.

Like the approvals console it is one static page; everything comes from the REST API with
the bearer token the operator pastes (kept in this tab's sessionStorage, shared with the
approvals console), under the same strict Content-Security-Policy.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.approvals.console import page_endpoint, page_headers, render_page

CONSOLE_HEADERS = page_headers(None)

_STATIC = Path(__file__).parent / "static"
_PAGE = render_page(
    _STATIC / "agents.html", "Agents", "/console/agents/agents.js", "operator token (a JWT with the admin role)"
)


async def _script(request: Request) -> Response:
    return FileResponse(_STATIC / "agents.js", media_type="text/javascript; charset=utf-8", headers=CONSOLE_HEADERS)


def routes() -> list[BaseRoute]:
    # Declared before the approvals console's /console/{name}, which would refuse these names.
    return [
        Route("/console/agents", page_endpoint(_PAGE, CONSOLE_HEADERS), methods=["GET"]),
        Route("/console/agents/agents.js", _script, methods=["GET"]),
    ]
