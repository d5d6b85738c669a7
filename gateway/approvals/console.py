"""The approvers' web console at /console: static pages, their scripts and one style sheet.

The page holds no data and needs no sign-in to load; everything it shows comes from the
REST API with the approver's bearer token, kept in sessionStorage. No cookie is used, so
a cross-site request carries no credentials and cross-site request forgery has nothing
to ride on; the strict Content-Security-Policy allows only this origin's script, and
connections only to this origin and the identity provider the console signs in with.
`/console/sign-in.json` tells the page how people sign in (SSO, pasted token, or both).

Every console page is one shell (static/page.html: the head, the style sheet, the page's
script) around the page's own body, in which `$signed_in` stands for the title bar's
who-is-signed-in block (static/signed_in.html) that every page's script fills in, and
`$paste_sign_in` for the sign-in form of a page whose people paste a token
(static/paste_sign_in.html, naming the `token` they paste).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.identity.console_sign_in import PASTE_ONLY, ConsoleSignIn

_STATIC = Path(__file__).parent / "static"
_FILES = {"console.js": "text/javascript", "console.css": "text/css", "tools.js": "text/javascript"}
_SHELL = Template((_STATIC / "page.html").read_text(encoding="utf-8"))
_SIGNED_IN = (_STATIC / "signed_in.html").read_text(encoding="utf-8").strip()
_PASTE_SIGN_IN = Template((_STATIC / "paste_sign_in.html").read_text(encoding="utf-8").strip())


def render_page(body: Path, title: str, script: str, token: str = "") -> bytes:
    """The console page whose own markup is the file `body`, titled `title`, run by `script`;
    `token` says what its people paste to sign in, where it has the paste-only form."""
    paste_sign_in = _PASTE_SIGN_IN.substitute(token=token)
    content = Template(body.read_text(encoding="utf-8")).substitute(signed_in=_SIGNED_IN, paste_sign_in=paste_sign_in)
    return _SHELL.substitute(title=title, script=script, body=content.rstrip()).encode()


def page_endpoint(content: bytes, headers: dict[str, str]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answering with the page `content` under the console's `headers`."""

    async def page(request: Request) -> Response:
        return Response(content, media_type="text/html; charset=utf-8", headers=headers)

    return page


def page_headers(idp_origin: str | None) -> dict[str, str]:
    """The console pages' security headers; `idp_origin` may be connected to (SSO sign-in)."""
    connect = f"'self' {idp_origin}" if idp_origin else "'self'"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'self'; style-src 'self'; connect-src {connect}; img-src 'self' data:;"
            " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def routes(sign_in: ConsoleSignIn = PASTE_ONLY, resource: Callable[[Request], str] = _own_origin) -> list[BaseRoute]:
    """`resource(request)`: the OAuth resource the console asks its token for."""
    headers = page_headers(sign_in.idp_origin)
    approvals = render_page(_STATIC / "console.html", "Approvals", "/console/console.js")
    tools = render_page(_STATIC / "tools.html", "Tool definitions", "/console/tools.js", "tool-reviewer token (a JWT)")

    async def sign_in_document(request: Request) -> Response:
        return JSONResponse(sign_in.document(resource(request)), headers=headers)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _FILES:
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(_STATIC / name, media_type=f"{_FILES[name]}; charset=utf-8", headers=headers)

    return [
        Route("/console", page_endpoint(approvals, headers), methods=["GET"]),
        # The tool reviewers' view (gateway.pins.api): definitions waiting for review, their diff.
        Route("/console/tools", page_endpoint(tools, headers), methods=["GET"]),
        Route("/console/sign-in.json", sign_in_document, methods=["GET"]),
        Route("/console/{name}", asset, methods=["GET"]),
    ]
