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


def _keys(text: str) -> tuple[str, ...]:
    return tuple(text.split())


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
    RecordKind.CALL_RECEIVED: Described(
        "a request arrived: who, what (`kind`: tool, prompt, resource, ...), the redacted arguments"
        " and the SHA-256 of the original ones",
        _keys(
            "principal kind connector tool arguments arguments_digest trace_id traceparent front_door client"
            " dry_run compensates"
        ),
        on_call=True,
    ),
    RecordKind.CALL_DECIDED: Described(
        "the policy decided (allow, deny, approve); an approved call is decided again at execution",
        _keys(_DECISION),
        "at execution `stage`, `approval_id`, `votes` (and `superseded` when refused then)",
        on_call=True,
    ),
    RecordKind.CALL_REJECTED: Described(
        "refused before the decision (suspended agent, invalid call, rate limit); `stage` says where",
        _keys("stage reason"),
        on_call=True,
    ),
    RecordKind.CALL_PREVIEWED: Described(
        "a dry run's report: what the policy would do and, for tools with a test run, the backend's verdict",
        _keys("dry_run tool would rule reason policy_version simulated"),
        "`approvals_required`, `approver_role` when it would be held, `backend_accepted` when simulated",
        on_call=True,
    ),
    RecordKind.CALL_FORWARDED: Described(
        "the request left for the backend",
        _keys("connector tool"),
        "`dry_run` for a backend test run, `approval_id` for an approved call",
        on_call=True,
    ),
    RecordKind.CALL_COMPLETED: Described(
        "the backend's answer: status, latency, digest and size of the result, or the error",
        _keys("status latency_ms error"),
        "`result_digest`, `result_bytes` when it answered, `approval_id` for an approved call,"
        " `backend_identity` (who the backend saw: `kind` and the technical `user` or `client_id`, or"
        " the exchanged token's `subject`, `jti` and `audience`; never a credential),"
        " `compensation` (how to undo it), and `result_rules`, `redacted`, `masked`, `screened`,"
        " `truncated`, `withheld`, `held`, `delivered_digest` (and `held_digest` for a result held for"
        " review) when result rules applied",
        on_call=True,
    ),
    RecordKind.CALL_REPLAYED: Described(
        "an earlier answer given again (`source`: `idempotency_key` or `approval`)",
        _keys("source"),
        "`replay_of` (idempotency key) or `approval_id` (approval)",
        on_call=True,
    ),
    RecordKind.RESULT_HELD: Described(
        "a result rule in `hold` mode kept the backend's answer from the agent until a reviewer decides",
        _keys("approval_id rule reason"),
        on_call=True,
    ),
    RecordKind.RESULT_RELEASED: Described(
        "the gateway gave the agent a held result that a reviewer released (the call or its retry)",
        _keys("approval_id"),
        on_call=True,
    ),
    RecordKind.RESULT_REFUSED: Described(
        "the gateway told the agent that its held result was refused or expired",
        _keys("approval_id state reason"),
        on_call=True,
    ),
    RecordKind.APPROVAL_REQUESTED: Described(
        "a call was held for people",
        _keys(
            "approval_id state approver approve comment requester connector tool arguments_digest rule"
            " policy_version approvals_required approver_role expires_at"
        ),
        on_call=True,
    ),
    RecordKind.APPROVAL_VOTED: Described(
        "an approver voted (or the gateway denied, e.g. the kill switch)",
        _keys(f"approval_id state {_VOTER} approvals approvals_required"),
        on_call=True,
    ),
    RecordKind.APPROVAL_DECIDED: Described(
        "the vote that settled the approval", _keys(f"approval_id state {_VOTER}"), on_call=True
    ),
    RecordKind.APPROVAL_EXPIRED: Described(
        "nobody decided in time: the call is denied",
        _keys("approval_id state approver approve comment expires_at"),
        on_call=True,
    ),
    RecordKind.APPROVAL_SUPERSEDED: Described(
        "an approved call was refused at execution (the policy or the window says no)",
        _keys("approval_id state reason"),
        on_call=True,
    ),
    RecordKind.APPROVAL_REFUSED: Described(
        "no approval was opened: the requester has too many pending",
        _keys("reason requester tool"),
        on_call=True,
    ),
    RecordKind.NOTIFICATION_SENT: Described(
        "an approval event reached a channel", _keys(f"{_NOTIFICATION} details"), on_call=True
    ),
    RecordKind.NOTIFICATION_RETRIED: Described(
        "a delivery failed and will be tried again", _keys(f"{_NOTIFICATION} error retry_in"), on_call=True
    ),
    RecordKind.NOTIFICATION_FAILED: Described(
        "a delivery failed for good (or its queue was full)", _keys(f"{_NOTIFICATION} error"), on_call=True
    ),
    RecordKind.SLACK_INTERACTION: Described(
        "a click or modal submission from Slack, accepted or why not",
        _keys("approval_id slack_user approver action accepted reason"),
        on_call=True,
    ),
    RecordKind.SLACK_REQUEST_REFUSED: Described(
        "a request to the Slack endpoint failed verification", _keys("reason detail client")
    ),
    RecordKind.GATEWAY_STARTED: Described("the gateway started", _keys(_GATEWAY)),
    RecordKind.GATEWAY_STOPPED: Described("the gateway stopped cleanly", _keys(_GATEWAY)),
    RecordKind.AUTH_FAILED: Described("a request without a valid token", _keys("reason client path")),
    RecordKind.POLICY_RELOADED: Described(
        "a changed policy was loaded (`trigger`: file change, SIGHUP, admin endpoint)", _keys(_RELOAD)
    ),
    RecordKind.POLICY_RELOAD_FAILED: Described("a policy edit was refused; the last good one stays", _keys(_RELOAD)),
    RecordKind.POLICY_SHADOW_LOADED: Described(
        "a candidate policy is evaluated beside the real one", _keys("by directory version")
    ),
    RecordKind.POLICY_SHADOW_STOPPED: Described(
        "the shadow policy was stopped, with its summary",
        _keys("by directory version evaluated changed by_change"),
    ),
    RecordKind.CATALOG_CHANGED: Described(
        "a tool definition was added or changed upstream (held for review unless trusted on first use)",
        _keys("connector tool change old_digest new_digest approved_by diff"),
        "`screening` (findings in the description) when held for review",
    ),
    RecordKind.CATALOG_APPROVED: Described(
        "a reviewer approved a tool definition", _keys("connector tool new_digest old_digest approved_by")
    ),
    RecordKind.AGENT_SUSPENDED: Described(
        "the kill switch stopped an agent, client, tenant or everything (by a person or a brake)",
        _keys(_SUSPENSION),
    ),
    RecordKind.AGENT_RESUMED: Described("a suspension was lifted", _keys(_SUSPENSION)),
    RecordKind.UNDO_REQUESTED: Described(
        "an administrator asked to undo calls (planned, or executed with `execute`)",
        _keys("by selector execute calls"),
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
