"""A rule whose condition reads an argument the call lacks no longer denies the whole call
(#18): through the gateway the allow rule is skipped, the next rule decides, the audit
record names the skipped rule and the metric counts it."""

from __future__ import annotations

from pathlib import Path

from gateway.audit import read_records
from gateway.mcp.client import connect
from tests.support.gateway import GatewayFactory

RULES = (
    "\n# Urgent echoes need no review.\n"
    "p, tester, *, echo.add, allow, r.args.priority == 'urgent', -\n"
    "# Adding is fine for testers when the numbers are small.\n"
    "p, tester, *, echo.add, allow, r.args.a < 100, -\n"
)


async def test_missing_argument_skips_the_allow_rule(
    echo_upstream, start_gateway: GatewayFactory, policy_dir: Path
) -> None:
    (policy_dir / "policy.csv").write_text(
        (policy_dir / "policy.csv")
        .read_text()
        .replace("p, tester, *, echo.*, allow, true, -", "p, tester, *, echo.echo, allow, true, -")
        + RULES
    )
    url, _ = echo_upstream
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}) as gw:
        async with connect(gw.mcp_url, gw.token()) as client:
            result = await client.call_tool("echo.add", {"a": 2, "b": 3})
        assert not result.is_error, result.content
        decided = [r for r in read_records(gw.config.audit.database) if r.kind == "call.decided"][-1]
        assert decided.data["effect"] == "allow"
        assert len(decided.data["unevaluable"]) == 1
        assert "could not be evaluated (argument 'priority' is missing)" in decided.data["reason"]
        metrics = await gw.scrape()
        assert f'gateway_policy_unevaluable_conditions_total{{rule="{decided.data["unevaluable"][0]}"}} 1.0' in metrics
