"""Generated policies and requests, for the differential test against pycasbin and the benchmark.

Generated rules use every construct (subject and role rules, `*` subjects, tenant rules and
links, exact and glob tools, all three decisions, conditions on arguments and context),
and generated requests include missing arguments and wrongly typed ones, so failing
conditions are compared too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.models import Principal
from gateway.policy.model import SUPPORTED_MODEL

CONNECTORS = ("sap", "oracle", "mainframe", "echo")
VERBS = ("search", "get", "create", "update", "delete", "post", "release", "find")
NOUNS = ("order", "vendor", "invoice", "employee", "account", "salary")
TENANTS = ("acme", "globex", "initech")
CURRENCIES = ("EUR", "USD", "GBP")
#: Role depth levels: a role only inherits roles of a deeper level, so there are no cycles
#: and chains stay within Casbin's limit.
LEVELS = 5

_CONDITIONS = (
    "true",
    "r.args.amount > {n}",
    "r.args.amount <= {n}",
    "r.args.currency == '{c}'",
    "r.args.currency != '{c}'",
    "r.args.currency in ('EUR', 'USD')",
    "r.args.amount >= {n} && r.args.currency != '{c}'",
    "r.args.amount < {n} || r.args.currency == '{c}'",
    "!(r.args.amount > {n})",
    "r.ctx.hour >= {h} && r.ctx.hour < 18",
    "r.ctx.weekday < 5",
    "r.ctx.front_door == 'rest'",
    "r.args.urgent == true",
)


def _distinct(count: int, draw: Callable[[], str]) -> list[str]:
    found: dict[str, None] = {}
    for _ in range(count * 20):
        if len(found) == count:
            break
        found[draw()] = None
    return list(found)


@dataclass(frozen=True, slots=True)
class Request:
    principal: Principal
    connector: str
    tool: str
    arguments: Mapping[str, Any]
    context: Mapping[str, Any]


class Synthetic:
    """One generated policy (as CSV text) and a stream of requests against it."""

    def __init__(self, seed: int, *, rules: int, roles: int, links: int, subjects: int, tools: int = 40) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.roles = [f"role{i}" for i in range(roles)]
        self.level = {role: rng.randrange(LEVELS) for role in self.roles}
        self.subjects = [f"user{i}" for i in range(subjects)]
        # Names repeat by chance: draw until each count is reached (bounded, in case the
        # name space is smaller than the count asked for).
        self.tools = sorted(
            _distinct(
                tools, lambda: f"{rng.choice(CONNECTORS)}.{rng.choice(VERBS)}_{rng.choice(NOUNS)}{rng.randrange(4)}"
            )
        )
        self.rule_rows = _distinct(rules, self._rule)
        self.link_rows = _distinct(links, self._link)

    def _tenant(self, wildcard_share: float) -> str:
        return "*" if self.rng.random() < wildcard_share else self.rng.choice(TENANTS)

    def _rule(self) -> str:
        rng = self.rng
        pick = rng.random()
        sub = "*" if pick < 0.03 else rng.choice(self.subjects) if pick < 0.15 else rng.choice(self.roles)
        tool = rng.choice(self.tools)
        connector, name = tool.split(".")
        obj = rng.choice([tool, tool, tool, f"{connector}.*", f"*.{name.split('_')[0]}_*", "*"])
        decision = rng.choices(["allow", "approve", "deny"], weights=[6, 2, 2])[0]
        condition = rng.choice(_CONDITIONS).format(
            n=rng.choice([100, 1000, 10000, 50000]), c=rng.choice(CURRENCIES), h=rng.randrange(24)
        )
        approval = f"{rng.randint(1, 3)} approver{rng.randrange(3)}" if decision == "approve" else "-"
        if decision == "approve" and rng.random() < 0.5:
            approval += f" {rng.randint(1, 48)}h"
        return f"p, {sub}, {self._tenant(0.85)}, {obj}, {decision}, {condition}, {approval}"

    def _link(self) -> str:
        rng = self.rng
        role = rng.choice(self.roles)
        member = rng.choice(self.subjects)
        if rng.random() < 0.5:
            below = [other for other in self.roles if self.level[other] < self.level[role]]
            member = rng.choice(below) if below else member
        return f"g, {member}, {role}, {self._tenant(0.8)}"

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "model.conf").write_text(SUPPORTED_MODEL + "\n")
        (directory / "policy.csv").write_text("\n".join(self.rule_rows) + "\n")
        if self.link_rows:
            (directory / "roles.csv").write_text("\n".join(self.link_rows) + "\n")
        return directory

    def _arguments(self) -> dict[str, Any]:
        rng = self.rng
        arguments: dict[str, Any] = {}
        if rng.random() < 0.93:
            arguments["amount"] = rng.choice([rng.randint(0, 100_000), rng.uniform(0, 60_000), 10000, 50000, "lots"])
        if rng.random() < 0.93:
            arguments["currency"] = rng.choice(CURRENCIES)
        if rng.random() < 0.8:
            arguments["urgent"] = rng.random() < 0.5
        return arguments

    def requests(self, count: int) -> Iterator[Request]:
        rng = self.rng
        for _ in range(count):
            subject = rng.choice(self.subjects) if rng.random() < 0.8 else f"stranger{rng.randrange(5)}"
            roles = tuple(rng.sample(self.roles, k=min(len(self.roles), rng.randint(0, 3))))
            tenant = rng.choice([*TENANTS, None, "other"])
            tool = rng.choice(self.tools) if rng.random() < 0.95 else "sap.unknown_tool"
            connector, name = tool.split(".")
            context = {"hour": rng.randrange(24), "weekday": rng.randrange(7), "tenant": tenant or ""}
            if rng.random() < 0.95:
                context["front_door"] = rng.choice(["mcp", "rest"])
            yield Request(Principal(subject, roles, tenant), connector, name, self._arguments(), context)
