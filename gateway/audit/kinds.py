"""Every kind of audit record the gateway writes: its name, its data keys, what it means.

This is the one list. Code that writes a record names its kind from `RecordKind`; the
table in docs/audit.md is printed from it (`python -m gateway.audit.kinds --markdown`),
and a test fails when the code writes a kind that is not here or the table is stale.

A member is a `str`, so it goes wherever a kind string went; `AuditLog.submit` stores its
plain value, so the chained bytes are the same whichever way the kind was named.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from enum import StrEnum


class RecordKind(StrEnum):
    # A request's path through the pipeline (all carry the call id).
    CALL_RECEIVED = "call.received"
    CALL_DECIDED = "call.decided"
    CALL_REJECTED = "call.rejected"
    CALL_PREVIEWED = "call.previewed"
    CALL_FORWARDED = "call.forwarded"
    CALL_COMPLETED = "call.completed"
    CALL_REPLAYED = "call.replayed"
    # An approval's story (on the held call's id).
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_VOTED = "approval.voted"
    APPROVAL_DECIDED = "approval.decided"
    APPROVAL_EXPIRED = "approval.expired"
    APPROVAL_SUPERSEDED = "approval.superseded"
    APPROVAL_REFUSED = "approval.refused"
    # A result held for review by a result rule in `hold` mode (on the call's id).
    RESULT_HELD = "result.held"
    RESULT_RELEASED = "result.released"
    RESULT_REFUSED = "result.refused"
    # Telling approvers (webhooks, Slack, Teams, e-mail).
    NOTIFICATION_SENT = "notification.sent"
    NOTIFICATION_RETRIED = "notification.retried"
    NOTIFICATION_FAILED = "notification.failed"
    SLACK_INTERACTION = "slack.interaction"
    SLACK_REQUEST_REFUSED = "slack.request_refused"
    # The gateway itself.
    GATEWAY_STARTED = "gateway.started"
    GATEWAY_STOPPED = "gateway.stopped"
    AUTH_FAILED = "auth.failed"
    POLICY_RELOADED = "policy.reloaded"
    POLICY_RELOAD_FAILED = "policy.reload_failed"
    POLICY_SHADOW_LOADED = "policy.shadow_loaded"
    POLICY_SHADOW_STOPPED = "policy.shadow_stopped"
    CATALOG_CHANGED = "catalog.changed"
    CATALOG_APPROVED = "catalog.approved"
    AGENT_SUSPENDED = "agent.suspended"
    AGENT_RESUMED = "agent.resumed"
    UNDO_REQUESTED = "undo.requested"

    @property
    def described(self) -> Described:
        return DESCRIBED[self]


@dataclass(frozen=True, slots=True)
class Described:
    meaning: str
    #: Keys of `data` in every record of the kind.
    keys: tuple[str, ...]
    #: Keys present only in some records, and when.
    sometimes: str = ""
    #: Whether the record carries a call id (else `call_id` is null).
    on_call: bool = False


def _on_call(meaning: str, keys: str, sometimes: str = "") -> Described:
    """A kind of record about one call (it carries the call id); `keys` separated by spaces."""
    return Described(meaning, tuple(keys.split()), sometimes, on_call=True)


def _of_gateway(meaning: str, keys: str, sometimes: str = "") -> Described:
    """A kind of record about the gateway itself (no call id)."""
    return Described(meaning, tuple(keys.split()), sometimes)


_DECISION = "effect rule reason policy_version approvals_required approver_role unevaluable"
_VOTER = "approver approver_issuer approver_tenant approver_roles approver_role_held approver_role_via approve comment"
_SUSPENSION = (
    "suspension_id scope value tenant reason suspended_by suspended_at source resumable_by active"
    " resumed_by resumed_at resume_reason"
)
_RELOAD = "version active_version files error trigger"
_NOTIFICATION = "approval_id channel target event attempt"
_GATEWAY = "version config_digest"

DESCRIBED: dict[RecordKind, Described] = {
    RecordKind.CALL_RECEIVED: _on_call(
        "a request arrived: who, what (`kind`: tool, prompt, resource, ...), the redacted arguments"
        " and the SHA-256 of the original ones",
        "principal kind connector tool arguments arguments_digest trace_id traceparent front_door client"
        " dry_run compensates",
    ),
    RecordKind.CALL_DECIDED: _on_call(
        "the policy decided (allow, deny, approve); an approved call is decided again at execution",
        _DECISION,
        "at execution `stage`, `approval_id`, `votes` (and `superseded` when refused then)",
    ),
    RecordKind.CALL_REJECTED: _on_call(
        "refused before the decision (suspended agent, invalid call, rate limit); `stage` says where",
        "stage reason",
    ),
    RecordKind.CALL_PREVIEWED: _on_call(
        "a dry run's report: what the policy would do and, for tools with a test run, the backend's verdict",
        "dry_run tool would rule reason policy_version simulated",
        "`approvals_required`, `approver_role` when it would be held, `backend_accepted` when simulated",
    ),
    RecordKind.CALL_FORWARDED: _on_call(
        "the request left for the backend",
        "connector tool",
        "`dry_run` for a backend test run, `approval_id` for an approved call",
    ),
    RecordKind.CALL_COMPLETED: _on_call(
        "the backend's answer: status, latency, digest and size of the result, or the error",
        "status latency_ms error",
        "`result_digest`, `result_bytes` when it answered, `approval_id` for an approved call,"
        " `backend_identity` (who the backend saw: `kind` and the technical `user` or `client_id`, or"
        " the exchanged token's `subject`, `jti` and `audience`; never a credential),"
        " `compensation` (how to undo it), and `result_rules`, `redacted`, `masked`, `screened`,"
        " `truncated`, `withheld`, `held`, `delivered_digest` (and `held_digest` for a result held for"
        " review) when result rules applied",
    ),
    RecordKind.CALL_REPLAYED: _on_call(
        "an earlier answer given again (`source`: `idempotency_key` or `approval`)",
        "source",
        "`replay_of` (idempotency key) or `approval_id` (approval)",
    ),
    RecordKind.RESULT_HELD: _on_call(
        "a result rule in `hold` mode kept the backend's answer from the agent until a reviewer decides",
        "approval_id rule reason",
    ),
    RecordKind.RESULT_RELEASED: _on_call(
        "the gateway gave the agent a held result that a reviewer released (the call or its retry)",
        "approval_id",
    ),
    RecordKind.RESULT_REFUSED: _on_call(
        "the gateway told the agent that its held result was refused or expired",
        "approval_id state reason",
    ),
    RecordKind.APPROVAL_REQUESTED: _on_call(
        "a call was held for people",
        "approval_id state approver approve comment requester connector tool arguments_digest rule"
        " policy_version approvals_required approver_role expires_at",
    ),
    RecordKind.APPROVAL_VOTED: _on_call(
        "an approver voted (or the gateway denied, e.g. the kill switch)",
        f"approval_id state {_VOTER} approvals approvals_required",
    ),
    RecordKind.APPROVAL_DECIDED: _on_call("the vote that settled the approval", f"approval_id state {_VOTER}"),
    RecordKind.APPROVAL_EXPIRED: _on_call(
        "nobody decided in time: the call is denied",
        "approval_id state approver approve comment expires_at",
    ),
    RecordKind.APPROVAL_SUPERSEDED: _on_call(
        "an approved call was refused at execution (the policy or the window says no)",
        "approval_id state reason",
    ),
    RecordKind.APPROVAL_REFUSED: _on_call(
        "no approval was opened: the requester has too many pending",
        "reason requester tool",
    ),
    RecordKind.NOTIFICATION_SENT: _on_call("an approval event reached a channel", f"{_NOTIFICATION} details"),
    RecordKind.NOTIFICATION_RETRIED: _on_call(
        "a delivery failed and will be tried again", f"{_NOTIFICATION} error retry_in"
    ),
    RecordKind.NOTIFICATION_FAILED: _on_call(
        "a delivery failed for good (or its queue was full)", f"{_NOTIFICATION} error"
    ),
    RecordKind.SLACK_INTERACTION: _on_call(
        "a click or modal submission from Slack, accepted or why not",
        "approval_id slack_user approver action accepted reason",
    ),
    RecordKind.SLACK_REQUEST_REFUSED: _of_gateway(
        "a request to the Slack endpoint failed verification", "reason detail client"
    ),
    RecordKind.GATEWAY_STARTED: _of_gateway("the gateway started", _GATEWAY),
    RecordKind.GATEWAY_STOPPED: _of_gateway("the gateway stopped cleanly", _GATEWAY),
    RecordKind.AUTH_FAILED: _of_gateway("a request without a valid token", "reason client path"),
    RecordKind.POLICY_RELOADED: _of_gateway(
        "a changed policy was loaded (`trigger`: file change, SIGHUP, admin endpoint)", _RELOAD
    ),
    RecordKind.POLICY_RELOAD_FAILED: _of_gateway("a policy edit was refused; the last good one stays", _RELOAD),
    RecordKind.POLICY_SHADOW_LOADED: _of_gateway(
        "a candidate policy is evaluated beside the real one", "by directory version"
    ),
    RecordKind.POLICY_SHADOW_STOPPED: _of_gateway(
        "the shadow policy was stopped, with its summary",
        "by directory version evaluated changed by_change",
    ),
    RecordKind.CATALOG_CHANGED: _of_gateway(
        "a tool definition was added or changed upstream (held for review unless trusted on first use)",
        "connector tool change old_digest new_digest approved_by diff",
        "`screening` (findings in the description) when held for review",
    ),
    RecordKind.CATALOG_APPROVED: _of_gateway(
        "a reviewer approved a tool definition", "connector tool new_digest old_digest approved_by"
    ),
    RecordKind.AGENT_SUSPENDED: _of_gateway(
        "the kill switch stopped an agent, client, tenant or everything (by a person or a brake)",
        _SUSPENSION,
    ),
    RecordKind.AGENT_RESUMED: _of_gateway("a suspension was lifted", _SUSPENSION),
    RecordKind.UNDO_REQUESTED: _of_gateway(
        "an administrator asked to undo calls (planned, or executed with `execute`)",
        "by selector execute calls",
    ),
}

if set(DESCRIBED) != set(RecordKind):  # pragma: no cover - caught at import, in every test run
    raise RuntimeError(f"record kinds without a description: {sorted(set(RecordKind) - set(DESCRIBED))}")


def markdown() -> str:
    """The table of docs/audit.md: every kind, its data keys and its meaning."""
    lines = ["| kind | call id | data keys | meaning |", "| --- | --- | --- | --- |"]
    for kind in RecordKind:
        described = kind.described
        keys = ", ".join(f"`{k}`" for k in described.keys)
        if described.sometimes:
            keys += f"; also {described.sometimes}"
        lines.append(f"| `{kind}` | {'yes' if described.on_call else 'null'} | {keys} | {described.meaning} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.audit.kinds", description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="print the table of docs/audit.md")
    args = parser.parse_args(argv)
    print(markdown() if args.markdown else "\n".join(RecordKind), end="" if args.markdown else "\n")


if __name__ == "__main__":
    main()
