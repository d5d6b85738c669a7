"""Options of a `mainframe` connector stanza."""

from __future__ import annotations

import re
from typing import Any, Self

from pydantic import Field, model_validator

from connectors.auth import BackendAuthSettings, BasicAuth, TokenExchangeAuth, refuse_moved_keys
from connectors.options import ConnectorOptions
from gateway.config import KeyProblem
from gateway.config.problems import NOT_SHOWN

RACF_USER = re.compile(r"^[A-Z0-9@#$]{1,8}$")


class MainframeOptions(ConnectorOptions):
    """A CICS region reached over TCP, signed on as a RACF user or as the person the agent
    acts for."""

    host: str = Field(min_length=1, description="Host of the CICS listener.")
    port: int = Field(ge=1, le=65535, description="Port of the CICS listener.")
    auth: BackendAuthSettings = Field(
        description="How the gateway signs on: `basic` (a RACF user id, upper case, and its password, 1 to 8 "
        "characters each) or `token_exchange` (the region maps the token's subject to a RACF user)."
    )
    copybook_dir: str | None = Field(None, min_length=1, description="Directory of the COBOL copybooks.")

    def cleartext_warning(self) -> str | None:
        if self.tls is not None:
            return None
        sign_on = "the RACF user and password" if isinstance(self.auth, BasicAuth) else "the exchanged sign-on tokens"
        return f"{sign_on} travel unencrypted over plain TCP (add a tls section)"

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        return refuse_moved_keys(data, {"user": "basic", "password": "basic"})

    @model_validator(mode="after")
    def _racf(self) -> Self:
        auth = self.auth
        if isinstance(auth, BasicAuth):
            if not RACF_USER.match(auth.username):
                raise KeyProblem(
                    "auth.username",
                    f"invalid value {auth.username!r}: a RACF user id has 1 to 8 characters A-Z, 0-9, @, # or $",
                )
            if len(auth.password.get_secret_value()) > 8:
                raise KeyProblem("auth.password", f"{NOT_SHOWN}: a RACF password has 1 to 8 characters")
        elif not isinstance(auth, TokenExchangeAuth):
            raise KeyProblem("auth.kind", f"{auth.kind!r} cannot sign on to CICS: use basic or token_exchange")
        return self
