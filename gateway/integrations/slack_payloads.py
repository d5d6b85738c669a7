"""The parts of Slack interaction payloads the gateway reads (Slack sends many more fields,
which are ignored): a button click (`block_actions`) and a modal submit (`view_submission`)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import InvalidInput
from gateway.integrations.slack_blocks import COMMENT_ACTION, COMMENT_BLOCK


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlackUser(_Part):
    id: str = Field(min_length=1, max_length=64)


class Action(_Part):
    action_id: str
    value: str = Field(default="", max_length=200)


class Container(_Part):
    channel_id: str | None = None
    message_ts: str | None = None


class BlockActions(_Part):
    type: Literal["block_actions"]
    user: SlackUser
    actions: list[Action] = Field(min_length=1)
    trigger_id: str | None = None
    response_url: str | None = None
    container: Container = Field(default_factory=Container)


class View(_Part):
    callback_id: str
    private_metadata: str = ""
    state: dict[str, Any] = Field(default_factory=dict)

    def comment(self) -> str:
        value = self.state.get("values", {}).get(COMMENT_BLOCK, {}).get(COMMENT_ACTION, {}).get("value")
        return value if isinstance(value, str) else ""

    def metadata(self) -> dict[str, Any]:
        try:
            data = json.loads(self.private_metadata)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


class ViewSubmission(_Part):
    type: Literal["view_submission"]
    user: SlackUser
    view: View


class _Envelope(BaseModel):
    payload: Annotated[BlockActions | ViewSubmission, Field(discriminator="type")]


class PayloadError(InvalidInput):
    pass


def parse_payload(raw: str) -> BlockActions | ViewSubmission:
    """The interaction in Slack's form field `payload`; PayloadError says what is wrong."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise PayloadError("the payload is not JSON") from None
    if not isinstance(data, dict) or data.get("type") not in ("block_actions", "view_submission"):
        kind = data.get("type") if isinstance(data, dict) else None
        raise PayloadError(f"unsupported interaction type {kind!r}: only block_actions and view_submission")
    try:
        return _Envelope.model_validate({"payload": data}).payload
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"][2:])
        raise PayloadError(f"payload.{where}: {error['msg']}") from None
