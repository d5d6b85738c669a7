"""`gateway policy ...`: test, explain and replay a policy directory from the command line.

Exit codes: 0 success; 1 a test case failed, or replay --fail-on-change found changed
outcomes; 2 the policy, the audit log or an option is invalid.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from gateway.audit import read_records
from gateway.audit.chain import MalformedRecord
from gateway.audit.postgres_store import read_postgres_records
from gateway.audit.store import StoreError
from gateway.cli.locate import audit_database, config_option
from gateway.cli.output import InertError, echo_json, inert
from gateway.cli.remote import remote_options, request_json
from gateway.models import Principal, split_qualified_name
from gateway.policy.case_schemas import CatalogUnavailable, case_schema_problems, load_catalog, unchecked_connectors
from gateway.policy.cases import DEFAULT_CONTEXT, load_cases, run_case
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError
from gateway.policy.explain import explain as explain_decision
from gateway.policy.replay import replay as replay_records

DEFAULT_DIR = "policies"


class InvalidPolicy(InertError):
    exit_code = 2


def _load(directory: Path) -> PolicyEngine:
    try:
        return PolicyEngine.load(directory)
    except PolicyError as exc:
        raise InvalidPolicy(f"invalid policy: {exc}") from None


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=option) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint=option)
    return value


@click.group("policy")
def policy() -> None:
    """Test, explain and replay Casbin policies."""


@policy.command("test")
@click.argument("directory", type=click.Path(path_type=Path), default=DEFAULT_DIR)
@click.option(
    "--catalog",
    default=None,
    help="Also check each case's arguments against its tool's schema: a file saved from GET /v1/tools,"
    " or the gateway's URL (with --token).",
)
@click.option("--token", envvar="GATEWAY_TOKEN", default=None, help="Bearer JWT for --catalog URL ($GATEWAY_TOKEN).")
def test_command(directory: Path, catalog: str | None, token: str | None) -> None:
    """Run the YAML test cases kept in DIRECTORY (default: policies)."""
    engine = _load(directory)
    try:
        cases = load_cases(engine.policy.files)
    except PolicyError as exc:
        raise InvalidPolicy(f"invalid test cases: {exc}") from None
    failures = [result.describe() for result in (run_case(engine, case) for case in cases) if not result.passed]
    if catalog is not None:
        try:
            specs = load_catalog(catalog, token)
        except CatalogUnavailable as exc:
            raise InvalidPolicy(f"cannot read the catalog: {exc}") from None
        failures += case_schema_problems(cases, specs)
        unchecked = unchecked_connectors(cases, specs)
        if unchecked:
            names = inert(", ".join(unchecked))
            click.echo(f"not checked against the catalog: connectors {names} (not listed to this token)")
    for failure in failures:
        click.echo(f"FAIL {inert(failure)}")
    failed = len(failures)
    click.echo(f"{len(cases) - failed} passed, {failed} failed ({len(cases)} cases, policy {engine.version[:12]})")
    if failed:
        raise SystemExit(1)


@policy.command("status")
@remote_options
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
def status_command(url: str, token: str, as_json: bool) -> None:
    """The policy a running gateway enforces, and its last reload (needs the admin role)."""
    status = request_json(url, token, "GET", "/v1/admin/policy")
    if as_json:
        echo_json(status, indent=2)
        return
    click.echo(f"policy   {inert(status['version'])}  ({status['rules']} rules, since {_iso(status['loaded_at'])})")
    click.echo(f"from     {inert(status['directory'])}")
    for name, digest in sorted(status["files"].items()):
        click.echo(f"  {inert(name):<24} {inert(digest[:12])}")
    last = status["last_reload"]
    if last is None:
        click.echo("reload   none since start")
    elif last["ok"]:
        click.echo(f"reload   {_iso(last['at'])} ok ({'changed' if last['changed'] else 'unchanged'})")
    else:
        click.echo(f"reload   {_iso(last['at'])} REFUSED, the policy above stays in force:")
        for line in str(last["error"]).splitlines():
            click.echo(f"  {inert(line)}")


@policy.command("reload")
@remote_options
def reload_command(url: str, token: str) -> None:
    """Ask a running gateway to load its policy files now (needs the admin role); exit 1 if refused."""
    result = request_json(url, token, "POST", "/v1/admin/policy/reload", accept=(200, 422))
    if result["ok"]:
        click.echo(f"{'reloaded' if result['changed'] else 'unchanged'}: policy {result['active_version'][:12]}")
        return
    click.echo(f"refused, policy {inert(result['active_version'][:12])} stays in force:")
    click.echo(inert(result["error"], block=True))
    raise SystemExit(1)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@policy.command("explain")
@click.option("--policy", "directory", type=click.Path(path_type=Path), default=DEFAULT_DIR, show_default=True)
@click.option("--sub", required=True, help="The caller's JWT subject.")
@click.option("--roles", default="", help="Comma-separated token roles.")
@click.option("--tenant", default=None, help="The caller's tenant.")
@click.option("--args", "arguments", default="{}", help="Tool arguments as a JSON object.")
@click.option("--context", default=None, help="Context as a JSON object (default: Wednesday 12:00 UTC over mcp).")
@click.argument("tool")
def explain_command(
    directory: Path, sub: str, roles: str, tenant: str | None, arguments: str, context: str | None, tool: str
) -> None:
    """Show the decision for one call to TOOL (connector.tool) and every rule for that tool."""
    names = split_qualified_name(tool)
    if names is None:
        raise click.BadParameter("must be connector.tool", param_hint="TOOL")
    args = _json_object(arguments, "--args")
    ctx = {**DEFAULT_CONTEXT, "tenant": tenant or "", **(_json_object(context, "--context") if context else {})}
    principal = Principal(sub, tuple(role.strip() for role in roles.split(",") if role.strip()), tenant)
    explanation = explain_decision(_load(directory), principal, names[0], names[1], args, ctx)
    decision = explanation.decision
    click.echo(f"decision: {decision.effect.value}")
    click.echo(f"rule:     {inert(decision.rule or '(none)')}")
    click.echo(f"reason:   {inert(decision.reason)}")
    if decision.approvals_required:
        role = inert(decision.approver_role)
        click.echo(f"approval: {decision.approvals_required} x {role}, ttl {inert(decision.approval_ttl)}")
    click.echo(f"caller:   {inert(', '.join(sorted(explanation.names)))} (tenant {inert(tenant or '(none)')})")
    click.echo(f"rules for {inert(tool)}:")
    for verdict in explanation.verdicts:
        mark = "+" if verdict.matched else "-"
        rule = verdict.rule
        text = f"{rule.location} {rule.effect.value} {rule.sub}@{rule.dom} {rule.obj}: {verdict.why}"
        click.echo(f"  {mark} {inert(text)}")
    if not explanation.verdicts:
        click.echo("  (no rule names this tool)")
    click.echo(f"({explanation.other_rules} other rules are for other tools)")


@policy.command("replay")
@click.option(
    "--audit",
    "database",
    help="Audit database: a SQLite file or a postgresql:// URL (default: the configured one).",
)
@config_option
@click.option(
    "--policy", "directory", type=click.Path(path_type=Path), required=True, help="Candidate policy directory."
)
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when any outcome would change (for CI).")
def replay_command(database: str | None, config_path: Path | None, directory: Path, fail_on_change: bool) -> None:
    """Re-decide the calls recorded in an audit log under a candidate policy; list every changed outcome."""
    engine = _load(directory)
    location = audit_database(config_path, database)
    records = read_records(location) if isinstance(location, Path) else read_postgres_records(location)
    try:
        report = replay_records(records, engine)
    except (StoreError, MalformedRecord) as exc:
        raise InvalidPolicy(f"cannot read the audit log: {exc}") from None
    for call in report.changed:
        at = datetime.fromtimestamp(call.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Subjects, tools and rules come from the log, that is from callers: inert.
        change = (
            f"{call.call_id} {call.subject} {call.tool}: {call.before_effect} ({call.before_rule or 'no rule'}) "
            f"-> {call.after.effect.value} ({call.after.rule or 'no rule'}): {call.after.reason}"
        )
        click.echo(f"{at} seq {call.seq} {inert(change)}")
    moves = ", ".join(f"{before}->{after} {count}" for (before, after), count in sorted(report.transitions.items()))
    click.echo(
        f"{report.replayed} calls replayed under policy {engine.version[:12]}: {len(report.changed)} would change"
        f"{f' ({moves})' if moves else ''}, {report.rule_changed} same outcome by another rule, "
        f"{report.undecided} without a recorded decision, {report.redacted} with redacted arguments"
    )
    if fail_on_change and report.changed:
        raise SystemExit(1)
