"""Every error the gateway raises on purpose, in one tree with one root.

Catch `GatewayError` for "anything the gateway meant"; anything else is a bug. Each class
says what went wrong, so its message is safe to show to whoever made the request (no
stack traces, no credentials). Modules that raise an error import it from here; the
small input parsers keep their own `InvalidInput` subclasses beside them.

    GatewayError
    ├── ConfigError ............. the configuration is invalid; `.problems` names every bad key
    ├── AuthError ............... a request's bearer token is missing or refused (401)
    │   ├── MissingToken, KeysUnavailable, InsufficientScope (403) ..... gateway.identity.errors
    │   └── AuthThrottled ....... gateway.guards: too many refused tokens from one source (429)
    ├── Problem ................. an HTTP request refused with an RFC 9457 problem (`.status`, `.kind`)
    │   └── ApiProblem .......... gateway.operator_api: the kind named after the status
    ├── CallRefused ............. a call refused before or instead of reaching a backend
    │   │                         (`.status` for REST, `.outcome` for metrics and audit)
    │   ├── UnknownTool
    │   ├── InvalidArguments
    │   │   └── ArgumentsOverLimit .. gateway.arguments: deeper, wider or larger than `arguments` allows
    │   ├── PolicyDenied
    │   ├── ApprovalRequired
    │   ├── ApprovalPending ..... held longer than the caller waits; `.approval_id` to ask about
    │   ├── ApprovalDenied
    │   │   ├── ApprovalExpired
    │   │   └── ApprovalSuperseded .. approved, but refused at execution (policy or window)
    │   ├── TooManyPendingApprovals .. the requester's pending approvals are at the cap
    │   ├── ToolQuarantined ..... the tool's definition waits for review (gateway.pins)
    │   ├── ResultWithheld ...... a result rule withheld the answer (gateway.inspect)
    │   ├── RateLimited ......... `.retry_after` seconds
    │   ├── RateLimitUnavailable
    │   ├── AgentSuspended ...... the kill switch or a brake stopped this agent
    │   ├── BackendFailed ....... the backend failed the call (504 when it timed out)
    │   ├── BackendBusy ......... the connector's slots and waiting room are full (503, `.retry_after`)
    │   └── AuditFailed ......... the call's record could not be written: no audit, no action
    ├── BackendError ............ raised by connectors: the backend could not serve the call
    │   ├── CredentialRefused ... connectors.auth: no backend credential for this caller (token
    │   │                         missing or expired, exchange refused by the identity provider)
    │   └── BackendUnavailable .. down, refused, timed out: may be retried later
    │       ├── BackendTimeout .. no answer within the call's deadline
    │       ├── ConnectorBusy ... every concurrency slot stayed taken until the deadline
    │       ├── SignInFailed .... connectors.mcp.oauth: the upstream's authorization server refused
    │       │                     or could not be reached
    │       └── SessionExpired .. connectors.mcp.direct_calls: the upstream forgot the session (404)
    ├── ProtocolFailure ......... connectors.mcp.http1: the connection broke or the peer did not
    │                             speak HTTP/1.1
    ├── NeedsSdk ................ connectors.mcp.direct_calls: an answer only the SDK client handles
    │                             (control flow: the call goes on through the SDK session)
    ├── PinMismatch ............. connectors.tls: (also an ssl.SSLCertVerificationError, so TLS code
    │                             treats it as one) the backend's key matches no `tls.pin_sha256`
    ├── _ResultHeld ............. gateway.pipeline: a result a `hold` rule keeps for review (control
    │                             flow between two pipeline stages; never leaves the pipeline)
    ├── PolicyError ............. a policy directory that must not go live (`file:line`)
    ├── CatalogUnavailable ...... gateway.policy.case_schemas: `policy test --catalog` cannot read it
    ├── SuspensionError ......... gateway.suspensions.model: a suspension that cannot be made or lifted (`.kind`)
    ├── ApprovalError ........... an approval operation that cannot be done (`.kind`)
    │   └── PendingCapReached ... gateway.approvals.store: the requester's pending approvals are at the cap
    ├── FetchError .............. gateway.identity.jwks: an issuer's discovery or JWKS could not be fetched
    ├── PinError ................ gateway.pins: a tool-definition review that cannot be done (`.status`)
    ├── DeliveryError ........... gateway.integrations: a notification that could not be delivered
    ├── SignatureRefused ........ gateway.integrations: a Slack request whose signature does not hold
    ├── SinkError, ChainBroken .. gateway.audit.streaming: a SIEM sink refused records; a log that does not
    │                             continue the sink's cursor
    ├── StoreError .............. a store could not do what was asked (full, locked, gone)
    ├── AuditUnavailable ........ a record could not be made durable
    ├── LimiterUnavailable ...... the shared rate-limit buckets cannot be reached
    ├── ServerFailed ............ a listener could not start
    ├── ClientFailure ........... the CLI could not reach the gateway, or was refused
    └── InvalidInput ............ (also a ValueError) text that does not parse, raised by the
        │                         parsers beside the data they read:
        ├── KeyProblem .......... gateway.config.problems: one key of a config section
        │   └── MovedKey ........ a key that moved (`moved to <new path>`)
        ├── MalformedRecord, ProofError, ExportError, KeyFileError ..... gateway.audit
        ├── InvalidWait ......... gateway.approvals.mcp_agent
        ├── ConditionError, _FieldError ..... gateway.policy (a condition, a column of a row)
        ├── InvalidDryRun ....... gateway.dry_run: a bad dry-run header
        ├── CursorError, PayloadError ..... gateway.audit.streaming, gateway.integrations (Slack)
        ├── BadPattern .......... gateway.schema: a JSON Schema `pattern` that is not ECMA-262
        ├── ODataError .......... connectors.sap.odata
        ├── SpecError ........... connectors.openapi.spec
        ├── FilterError, QueryRejected ..... connectors.oracle
        ├── TokenRejected ....... connectors.stub_tokens: a token a backend stub does not accept
        └── RecordError, CopybookError, FrameError ..... connectors.mainframe
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal


class GatewayError(Exception):
    """The root: every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The configuration is invalid. `problems` holds every finding, each naming its key
    path (`connectors.sap.pasword: unknown key (did you mean 'password'?)`)."""

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("; ".join(self.problems))


class AuthError(GatewayError):
    """The request carries no usable credential (401); the message says which check failed.
    The refusals of gateway.identity (missing token, keys unavailable, insufficient scope)
    subclass it."""

    status = 401
    #: RFC 6750 error code; None when the request carried no token at all.
    error: str | None = "invalid_token"
    #: The challenge for this refusal, set by the gate that knows the request.
    www_authenticate: str | None = None


class Problem(GatewayError):
    """An HTTP request refused with an RFC 9457 problem document (see `gateway.problems`).

    `kind` is the last part of the problem type URN (`urn:agent-gateway:problem:<kind>`);
    `extensions` become extra members of the document."""

    def __init__(
        self, status: int, kind: str, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


class CallRefused(GatewayError):
    """A call refused before or instead of reaching a backend. Each refusal names on its
    class line the HTTP status the REST front door answers with and its `outcome`, the
    label of the metrics and audit records that count it."""

    status: int = 400
    outcome: str = "refused"

    def __init_subclass__(cls, *, status: int | None = None, outcome: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if outcome is not None:
            cls.outcome = outcome

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownTool(CallRefused, status=404, outcome="unknown_tool"):
    """No connector offers the tool, prompt or resource the call names."""


class ToolQuarantined(CallRefused, status=403, outcome="quarantined"):
    """The tool's definition changed (or is new) and waits for a reviewer."""


class InvalidArguments(CallRefused, status=422, outcome="invalid_arguments"):
    """The arguments do not match the tool's JSON Schema."""


class PolicyDenied(CallRefused, status=403, outcome="denied"):
    """The policy denies the call (or no rule allows it)."""


class AgentSuspended(CallRefused, status=403, outcome="suspended"):
    """The agent, its application, its tenant or everything is suspended (kill switch)."""


class ApprovalRequired(CallRefused, status=403, outcome="approval_required"):
    """The policy wants people to approve the call, and it cannot be held for them."""


class ResultWithheld(CallRefused, status=403, outcome="result_withheld"):
    """The backend answered, but a result rule keeps the answer from the agent."""


class BackendFailed(CallRefused, status=502, outcome="backend_error"):
    """The backend failed the call; 504 and `backend_timeout` when it did not answer in time."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        if timed_out:
            self.status, self.outcome = 504, "backend_timeout"


class AuditFailed(CallRefused, status=503, outcome="audit_unavailable"):
    """The call's record could not be written: no audit, no action."""


class RateLimited(CallRefused, status=429, outcome="rate_limited"):
    """The caller is over its rate limit."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        #: Seconds until the call would be admitted (the REST front door's Retry-After).
        self.retry_after = retry_after


class BackendBusy(RateLimited, status=503, outcome="backend_busy"):
    """The backend's slots and waiting room are full: refused at once, to be retried."""


class RateLimitUnavailable(CallRefused, status=503, outcome="rate_limit_unavailable"):
    """The shared rate-limit buckets cannot be reached: the call is not let through unmetered."""


class ApprovalPending(CallRefused, status=202, outcome="approval_pending"):
    """Held for approval longer than the call may wait: the agent retries to learn the outcome."""

    def __init__(self, message: str, approval_id: str) -> None:
        super().__init__(message)
        #: What the agent asks about (`gateway.approval_status`, `GET /v1/calls/{id}`).
        self.approval_id = approval_id


class ApprovalDenied(CallRefused, status=403, outcome="approval_denied"):
    """An approver (or the kill switch) denied the held call."""


class ApprovalExpired(ApprovalDenied, outcome="approval_expired"):
    """Nobody decided before the approval expired: expiry means deny."""


class ApprovalSuperseded(ApprovalDenied, outcome="approval_superseded"):
    """Approved, but refused at execution: the policy in force then, or the end of the
    approval's execution window, says no."""


class TooManyPendingApprovals(CallRefused, status=429, outcome="approvals_capped"):
    """The requester already has as many calls waiting for approval as it may."""


class BackendError(GatewayError):
    """The backend could not serve the call. The message is shown to the agent, so it
    must say what went wrong without internal detail (no tracebacks, no credentials);
    the gateway puts the backend's name in front of it."""


class CredentialRefused(BackendError):
    """No credential for the backend could be had for this call: the caller's token is
    missing or expired, or the identity provider refused to exchange it. Never falls back
    to another identity."""


class BackendUnavailable(BackendError):
    """The backend did not answer (down, refused, timed out); the call may be retried later."""


class BackendTimeout(BackendUnavailable):
    """The backend did not answer within the call's deadline."""


class ConnectorBusy(BackendUnavailable):
    """All of the connector's concurrency slots stayed taken until the deadline; the backend
    itself did nothing wrong, so this does not count against the circuit."""


class PolicyError(GatewayError):
    """A policy directory that must not go live. The message names `file:line` and the fault.

    `file_hashes` describes the files that were read (empty when none could be), so a failed
    reload can still be audited with the hashes of the candidate that was refused.
    """

    def __init__(
        self, message: str, file_hashes: Mapping[str, str] | None = None, problems: Iterable[str] = ()
    ) -> None:
        super().__init__(message)
        self.file_hashes: Mapping[str, str] = dict(file_hashes or {})
        #: Every fault found, one line each (the message holds them all too).
        self.problems: tuple[str, ...] = tuple(problems) or (message,)

    @classmethod
    def of(cls, problems: Iterable[object], file_hashes: Mapping[str, str] | None = None) -> PolicyError:
        """One error reporting every problem (`gateway.policy.errors.Problem`s or text): a load
        shows all its faults at once, not the first."""
        lines = [str(problem) for problem in problems]
        message = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n" + "\n".join(lines)
        return cls(message, file_hashes, lines)


ApprovalErrorKind = Literal["not_found", "forbidden", "conflict", "invalid", "unavailable", "limited"]


class ApprovalError(GatewayError):
    """A vote or lookup that cannot be done; the message says exactly why, the kind maps
    to an HTTP status."""

    def __init__(self, kind: ApprovalErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ApprovalErrorKind = kind
        self.message = message


class StoreError(GatewayError):
    """The store could not do what was asked (full, locked, gone, refused)."""


class AuditUnavailable(GatewayError):
    """A record could not be made durable; whatever it describes must not happen."""


class LimiterUnavailable(GatewayError):
    """The shared buckets could not be reached; the call must not go through unmetered."""


class ServerFailed(GatewayError):
    """A listener could not start (port taken, bind refused)."""


class ClientFailure(GatewayError):
    """The gateway could not be reached or refused the request; the message says why."""


class InvalidInput(GatewayError, ValueError):
    """Text that does not parse; each parser subclasses it beside the data it reads."""
