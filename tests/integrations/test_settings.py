"""The `integrations` and `audit_streaming` sections: every secret a `${env:...}` or
`${file:...}` reference (no `*_env` keys), and an error naming the bad key for anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, parse_config

IDENTITY = {"allow_inline_secrets": True, "identity": {"secret": "s" * 40}}
SLACK = {"signing_secret": "${env:TEST_SLACK_SIGNING}", "bot_token": "xoxb-1", "channel": "C1"}
ENVIRON = {
    "TEST_SLACK_SIGNING": "0123456789abcdef0123",
    "TEST_SLACK_BOT": "xoxb-from-env",
    "TEST_TEAMS_URL": "https://teams.example/workflows/sig=abc",
    "TEST_SMTP_PASSWORD": "smtp-secret",
    "TEST_HEC_TOKEN": "hec-secret",
    "TEST_WEBHOOK_URL": "https://hooks.example/services/T1/B1/xyz",
}
#: Every secret of both sections, each a reference.
REFERENCED = {
    "approvals": {"webhooks": [{"url": "${env:TEST_WEBHOOK_URL}", "headers": {"X-Key": "${file:otlp-key}"}}]},
    "integrations": {
        "slack": {"signing_secret": "${env:TEST_SLACK_SIGNING}", "bot_token": "${env:TEST_SLACK_BOT}", "channel": "C1"},
        "teams": {"webhook_url": "${env:TEST_TEAMS_URL}"},
        "email": {
            "host": "mail",
            "username": "gw",
            "password": "${env:TEST_SMTP_PASSWORD}",
            "sender": "gw@example.com",
            "recipients": ["a@example.com"],
        },
    },
    "audit_streaming": {
        "sinks": [
            {"kind": "splunk_hec", "name": "s", "url": "https://h:8088", "token": "${env:TEST_HEC_TOKEN}"},
            {"kind": "otlp", "name": "o", "endpoint": "http://c", "headers": {"X-Api-Key": "${file:otlp-key}"}},
        ]
    },
}


def parse(base_dir: Path = Path("."), **sections: Any) -> Any:
    return parse_config({**IDENTITY, **sections}, base_dir=base_dir, environ=ENVIRON)


def test_every_secret_is_a_reference(tmp_path: Path) -> None:
    (tmp_path / "otlp-key").write_text("otlp-secret\n")
    config = parse(tmp_path, **REFERENCED)
    slack, teams, email = config.integrations.slack, config.integrations.teams, config.integrations.email
    hec, otlp = config.audit_streaming.sinks
    webhook = config.approvals.webhooks[0]
    assert slack.signing_secret.get_secret_value() == "0123456789abcdef0123"
    assert slack.bot_token.get_secret_value() == "xoxb-from-env"
    assert teams.webhook_url.get_secret_value() == "https://teams.example/workflows/sig=abc"
    assert email.password.get_secret_value() == "smtp-secret"
    assert hec.token.get_secret_value() == "hec-secret"
    assert otlp.headers["X-Api-Key"].get_secret_value() == "otlp-secret"
    assert webhook.url.get_secret_value() == "https://hooks.example/services/T1/B1/xyz"
    shown = repr(config)
    assert not [value for value in (*ENVIRON.values(), "otlp-secret") if value in shown]


def test_secrets_written_into_the_file_are_refused() -> None:
    inline = {
        "identity": {"secret": "s" * 40},
        "integrations": {"teams": {"webhook_url": "https://teams.example/workflows/sig=abc"}},
        "audit_streaming": {"sinks": [{"kind": "splunk_hec", "name": "s", "url": "https://h:8088", "token": "t"}]},
    }
    with pytest.raises(ConfigError) as error:
        parse_config(inline, base_dir=Path("."), environ={})
    refused = "a secret written into the file is refused: use ${env:NAME} or ${file:PATH}"
    assert f"integrations.teams.webhook_url: {refused}" in str(error.value)
    assert f"audit_streaming.sinks.0.splunk_hec.token: {refused}" in str(error.value)
    assert "sig=abc" not in str(error.value)


@pytest.mark.parametrize("key", ["signing_secret_env", "bot_token_env"])
def test_the_old_env_keys_are_gone(key: str) -> None:
    """One mechanism: `*_env` keys are unknown keys now, named as such."""
    slack = {"signing_secret": "x" * 20, "bot_token": "b", "channel": "C1", key: "TEST_SLACK_SIGNING"}
    with pytest.raises(ConfigError, match=rf"integrations\.slack\.{key}: unknown key"):
        parse(integrations={"slack": slack})


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"integrations": {"slack": {**SLACK, "signing_secret": "${env:TEST_UNSET}"}}},
            "integrations.slack.signing_secret: environment variable TEST_UNSET is not set (referenced as "
            "${env:TEST_UNSET})",
        ),
        (
            {"integrations": {"slack": {**SLACK, "signing_secret": "too-short"}}},
            "integrations.slack.signing_secret: invalid value (not shown: a secret): must be at least 16 characters",
        ),
        (
            {"integrations": {"teams": {"webhook_url": "teams.example/hook"}}},
            "integrations.teams.webhook_url: invalid value (not shown: a secret): expected an http:// or https:// URL",
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
            "audit_streaming.sinks.0.kind: unknown kind 'kafka' (known: syslog, splunk_hec, otlp)",
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
def test_a_bad_value_is_named(sections: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(**sections)
    assert str(error.value) == message
