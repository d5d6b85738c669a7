"""What the approvals console needs to sign a person in: the identity provider, the
console's public client id, the scopes and the resource to ask for (authorization code
with PKCE, run by the page itself), and whether pasting a token is offered at all (only
where the local issuer exists; an identity provider's tokens are for its own sign-in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from gateway.config import IdentitySettings


@dataclass(frozen=True, slots=True)
class ConsoleSignIn:
    issuer: str | None
    client_id: str | None
    scopes: tuple[str, ...]
    paste_token: bool

    @classmethod
    def from_settings(cls, identity: IdentitySettings) -> ConsoleSignIn:
        paste = bool(identity.secret or identity.public_key_file)
        console = identity.console
        if console is None:
            return cls(None, None, (), paste)
        required = next(i.required_scopes for i in identity.issuers if i.issuer == console.issuer)
        scopes = tuple(dict.fromkeys((*console.scopes, *required)))
        return cls(console.issuer, console.client_id, scopes, paste)

    @property
    def idp_origin(self) -> str | None:
        """The origin the page fetches discovery and tokens from (its CSP allows it)."""
        if self.issuer is None:
            return None
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    def document(self, resource: str) -> dict[str, Any]:
        sso = None
        if self.issuer is not None:
            sso = {
                "issuer": self.issuer,
                "client_id": self.client_id,
                "scope": " ".join(self.scopes),
                "resource": resource,
            }
        return {"sso": sso, "paste_token": self.paste_token}


#: A console without SSO: people paste a token from the local issuer.
PASTE_ONLY = ConsoleSignIn(None, None, (), paste_token=True)
