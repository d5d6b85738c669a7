"""Options of a `mainframe` connector stanza."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from connectors.options import ConnectorOptions
from gateway.config import KeyProblem, Secret
from gateway.config.problems import NOT_SHOWN


class MainframeOptions(ConnectorOptions):
    """A CICS region reached over TCP, signed in as a RACF user."""

    host: str = Field(min_length=1, description="Host of the CICS listener.")
    port: int = Field(ge=1, le=65535, description="Port of the CICS listener.")
    user: str = Field(pattern=r"^[A-Z0-9@#$]{1,8}$", description="RACF user id (up to 8 characters, upper case).")
    password: Secret = Field(description="RACF password (1 to 8 characters).")
    copybook_dir: str | None = Field(None, min_length=1, description="Directory of the COBOL copybooks.")

    def cleartext_warning(self) -> str | None:
        if self.tls is not None:
            return None
        return "the RACF user and password travel unencrypted over plain TCP (add a tls section)"

    @field_validator("password")
    @classmethod
    def _racf_length(cls, password: SecretStr) -> SecretStr:
        if len(password.get_secret_value()) > 8:
            raise KeyProblem("", f"{NOT_SHOWN}: a RACF password has 1 to 8 characters")
        return password
