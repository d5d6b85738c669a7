"""The `integrations` and `audit_streaming` sections: secrets from the environment, and an
error naming the bad key for anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, parse_config

IDENTITY = {"allow_inline_secrets": True, "identity": {"secret": "s" * 40}}
SLACK = {"signing_secret_env": "TEST_SLACK_SIGNING", "bot_token": "xoxb-1", "channel": "C1"}


def parse(**sections: Any) -> Any:
    return parse_config({**IDENTITY, **sections}, base_dir=Path("."), environ={})


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SLACK_SIGNING", "0123456789abcdef0123")
    monkeypatch.setenv("TEST_HEC_TOKEN", "hec-secret")
    config = parse(
        integrations={"slack": SLACK},
        audit_streaming={
            "sinks": [{"kind": "splunk_hec", "name": "s", "url": "https://h:8088", "token_env": "TEST_HEC_TOKEN"}]
        },
    )
    assert config.integrations.slack.signing_secret == "0123456789abcdef0123"
    assert config.audit_streaming.sinks[0].token == "hec-secret"


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"integrations": {"slack": SLACK}},
            "integrations.slack: signing_secret_env: environment variable 'TEST_SLACK_SIGNING' is not set",
        ),
        (
            {"integrations": {"slack": {"signing_secret": "x" * 20, "bot_token": "b", "chanel": "C2"}}},
            "integrations.slack.channel: required; integrations.slack.chanel: unknown key (did you mean 'channel'?)",
        ),
        (
            {"integrations": {"approvers": [{"subject": "alice"}]}},
            "integrations.approvers.0: an approver entry needs slack_user or email",
        ),
        (
            {"integrations": {"email": {"host": "h", "sender": "a@b", "recipients": []}}},
            "integrations.email.recipients: tuple should have at least 1 item after validation, not 0",
        ),
        (
            {"audit_streaming": {"sinks": [{"kind": "kafka", "name": "k"}]}},
            "audit_streaming.sinks.0: input tag 'kafka' found using 'kind' does not match any of the expected tags:"
            " 'syslog', 'splunk_hec', 'otlp'",
        ),
        (
            {"audit_streaming": {"sinks": [{"kind": "syslog", "name": "a", "host": "h", "port": 70000}]}},
            "audit_streaming.sinks.0.syslog.port: invalid value 70000: expected less than or equal to 65535",
        ),
        (
            {"audit_streaming": {"sinks": [{"kind": "otlp", "name": "a", "endpoint": "http://c"}] * 2}},
            "audit_streaming: sink names must be unique: a",
        ),
        (
            {"audit_streaming": "yes"},
            "audit_streaming: invalid value 'yes': expected a mapping or instance of StreamingSettings",
        ),
    ],
)
def test_a_bad_value_is_named(sections: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SLACK_SIGNING", raising=False)
    with pytest.raises(ConfigError) as error:
        parse(**sections)
    assert str(error.value) == message
