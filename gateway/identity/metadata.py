"""MCP authorization, the resource-server half: RFC 9728 protected-resource metadata, and
the RFC 6750 `WWW-Authenticate` challenge that points every 401 at it, so a standard MCP
client finds the identity provider on its own.

Two documents: `/.well-known/oauth-protected-resource` for the gateway as a whole (the
REST front door) and `/.well-known/oauth-protected-resource/mcp` for the MCP endpoint
(RFC 9728 section 3.1: the well-known path with the resource's path appended).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.identity.errors import AuthError, InsufficientScope
from gateway.identity.issuers import IssuerRegistry
from gateway.identity.jwks import fetchable

WELL_KNOWN = "/.well-known/oauth-protected-resource"
MCP_PATH = "/mcp"


def _quoted(text: str) -> str:
    return text.replace("\\", "/").replace('"', "'")


class ProtectedResource:
    """What the gateway tells clients about itself as an OAuth protected resource."""

    def __init__(self, public_url: str | None, issuers: IssuerRegistry) -> None:
        self._public_url = public_url.rstrip("/") if public_url else None
        self._servers = [i.name for i in issuers if i.remote is not None and fetchable(i.name)]
        self.scopes = tuple(dict.fromkeys(s for i in issuers for s in i.required_scopes))

    def base_url(self, conn: HTTPConnection) -> str:
        """The configured public URL; without one, the URL the client used to reach us."""
        if self._public_url:
            return self._public_url
        return f"{conn.url.scheme}://{conn.url.netloc}"

    def metadata_url(self, conn: HTTPConnection) -> str:
        mcp = conn.url.path == MCP_PATH or conn.url.path.startswith(MCP_PATH + "/")
        return self.base_url(conn) + WELL_KNOWN + (MCP_PATH if mcp else "")

    def document(self, conn: HTTPConnection, suffix: str) -> dict[str, object]:
        return {
            "resource": self.base_url(conn) + suffix,
            "authorization_servers": self._servers,
            "scopes_supported": list(self.scopes),
            "bearer_methods_supported": ["header"],
            "resource_name": "Agent governance gateway" + (" (MCP)" if suffix else ""),
        }

    def challenge(self, exc: AuthError, conn: HTTPConnection) -> str:
        """The WWW-Authenticate value for a refused request (RFC 6750 section 3, RFC 9728 section 5.1)."""
        parts = ['realm="agent-gateway"', f'resource_metadata="{self.metadata_url(conn)}"']
        scopes = exc.scopes if isinstance(exc, InsufficientScope) else self.scopes
        if scopes:
            parts.append(f'scope="{_quoted(" ".join(scopes))}"')
        if exc.error is not None:  # a request without any token gets no error code (RFC 6750 3.1)
            parts += [f'error="{exc.error}"', f'error_description="{_quoted(str(exc))}"']
        return "Bearer " + ", ".join(parts)

    def routes(self) -> list[Route]:
        def endpoint(suffix: str) -> Route:
            async def serve(request: Request) -> Response:
                # Public and cacheable: it names no secret and changes only with the config.
                headers = {"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}
                return JSONResponse(self.document(request, suffix), headers=headers)

            return Route(WELL_KNOWN + suffix, serve, methods=["GET"])

        return [endpoint(""), endpoint(MCP_PATH)]
