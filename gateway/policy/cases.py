"""The policy's own test cases: YAML beside the rules, run by `gateway policy test` and
by every reload (a policy whose cases fail never goes live)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from gateway.models import Decision, Effect, Principal, split_qualified_name
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError
from gateway.policy.files import PolicyFiles
from gateway.policy.result_cases import (
    ResultExpectation,
    answer_kind,
    inspect_case,
    parse_expectation,
    result_failures,
)

#: The context a case runs under unless it says otherwise: a Wednesday at noon UTC over MCP.
DEFAULT_CONTEXT: Mapping[str, Any] = {
    "hour": 12,
    "weekday": 2,
    "front_door": "mcp",
    "scopes": [],
    "client": "",
    "issuer": "",
    "claims": {},
}
_KEYS = {
    "name", "sub", "roles", "tenant", "tool", "args", "context", "expect", "rule", "approvals", "approver_role",
    "result", "expect_result",
}  # fmt: skip
_REQUIRED = ("name", "sub", "tool", "expect")


@dataclass(frozen=True, slots=True)
class Case:
    location: str
    name: str
    principal: Principal
    connector: str
    tool: str
    arguments: Mapping[str, Any]
    context: Mapping[str, Any]
    expect: Effect
    #: Optional expectations: checked only when the case gives them.
    rule: str | None = None
    approvals: int | None = None
    approver_role: str | None = None
    result: ResultExpectation | None = None


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    decision: Decision
    failures: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        """`file:line name: what was expected; what happened instead`."""
        got = f"got {self.decision.effect.value} ({self.decision.rule or 'no rule'}): {self.decision.reason}"
        return f"{self.case.location} {self.case.name!r}: {'; '.join(self.failures)}; {got}"


def _case(raw: Any, location: str) -> Case:
    if not isinstance(raw, dict):
        raise ValueError("a case must be a mapping")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ValueError(f"missing key {missing[0]!r}")
    names = split_qualified_name(str(raw["tool"]))
    if names is None:
        raise ValueError(f"tool {raw['tool']!r} must be connector.tool")
    roles = raw.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise ValueError("roles must be a list of strings")
    for key in ("args", "context"):
        if not isinstance(raw.get(key, {}), dict):
            raise ValueError(f"{key} must be a mapping")
    try:
        expect = Effect(raw["expect"])
    except ValueError:
        raise ValueError(f"expect {raw['expect']!r} must be allow, deny or approve") from None
    tenant = raw.get("tenant")
    result = parse_expectation(raw)
    if result is not None and answer_kind(names[0], result.result) is None:
        raise ValueError(f"answers of {raw['tool']!r} are not inspected: results are for tools, prompts/, resources/")
    return Case(
        location=location,
        name=str(raw["name"]),
        principal=Principal(str(raw["sub"]), tuple(roles), None if tenant is None else str(tenant)),
        connector=names[0],
        tool=names[1],
        arguments=raw.get("args", {}),
        context={**DEFAULT_CONTEXT, "tenant": tenant or "", **raw.get("context", {})},
        expect=expect,
        rule=raw.get("rule"),
        approvals=raw.get("approvals"),
        approver_role=raw.get("approver_role"),
        result=result,
    )


def load_cases(files: PolicyFiles) -> list[Case]:
    """Every case of every YAML file; PolicyError naming `file:line` for a malformed one."""
    cases: list[Case] = []
    for name in files.case_files:
        text = files.texts[name]
        try:
            document = yaml.safe_load(text)
            node = yaml.compose(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{name}: not valid YAML: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
            raise PolicyError(f"{name}:1: expected a mapping with a 'cases' list")
        assert isinstance(node, yaml.MappingNode)  # the document parsed as a mapping just above
        items = next(value for key, value in node.value if key.value == "cases").value
        for raw, item in zip(document["cases"], items, strict=True):
            location = f"{name}:{item.start_mark.line + 1}"
            try:
                cases.append(_case(raw, location))
            except ValueError as exc:
                raise PolicyError(f"{location}: {exc}") from None
    return cases


def run_case(engine: PolicyEngine, case: Case) -> CaseResult:
    decision = engine.decide(case.principal, case.connector, case.tool, case.arguments, case.context)
    failures: list[str] = []
    if decision.effect is not case.expect:
        failures.append(f"expected {case.expect.value}")
    if case.rule is not None and decision.rule != case.rule:
        failures.append(f"expected rule {case.rule}")
    if case.approvals is not None and decision.approvals_required != case.approvals:
        failures.append(f"expected {case.approvals} approvals, got {decision.approvals_required}")
    if case.approver_role is not None and decision.approver_role != case.approver_role:
        failures.append(f"expected approver role {case.approver_role}, got {decision.approver_role}")
    if case.result is not None:
        inspected = inspect_case(engine.results, case.principal, case.connector, case.tool, case.result)
        failures += result_failures(inspected, case.result.expected)
    return CaseResult(case=case, decision=decision, failures=tuple(failures))


def run_cases(engine: PolicyEngine) -> list[CaseResult]:
    """Run the cases kept beside the engine's own policy."""
    return [run_case(engine, case) for case in load_cases(engine.policy.files)]
