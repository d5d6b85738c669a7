"""A policy directory, read and checked in full: the input to both evaluators."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from gateway.policy.errors import PolicyError, Problem
from gateway.policy.files import MODEL_FILE, PolicyFiles, read_policy_files
from gateway.policy.model import check_model
from gateway.policy.rules import RoleLink, Rule, check_role_graph, check_unique, parse_rule_rows


@dataclass(frozen=True, slots=True)
class Policy:
    files: PolicyFiles
    #: In evaluation order within a decision: files sorted by name, then line.
    rules: tuple[Rule, ...]
    links: tuple[RoleLink, ...]

    @property
    def version(self) -> str:
        return self.files.version


def load_policy(directory: Path) -> Policy:
    """Read and check every file; PolicyError (with the candidate's file hashes) on any fault."""
    files = read_policy_files(directory)
    try:
        check_model(MODEL_FILE, files.texts[MODEL_FILE])
        rules: list[Rule] = []
        links: list[RoleLink] = []
        problems: list[Problem] = []
        for name in files.rule_files:
            file_rules, file_links, file_problems = parse_rule_rows(name, files.texts[name], len(rules))
            rules.extend(file_rules)
            links.extend(file_links)
            problems.extend(file_problems)
        if problems:
            raise PolicyError.of(problems)
        if not rules:
            raise PolicyError(f"{', '.join(files.rule_files)}: no p rows: every call would be denied")
        check_unique(rules, links)
        check_role_graph(links)
    except PolicyError as exc:
        raise PolicyError(str(exc), files.file_hashes, exc.problems) from None
    return Policy(files=files, rules=tuple(rules), links=tuple(links))


def check_approver_roles(policy: Policy, configured: Collection[str]) -> None:
    """Every approve rule names a role someone can hold: a configured approver role or one
    that `g` rows grant. PolicyError listing each rule that does not, with a suggestion."""
    known = sorted({*configured, *(link.role for link in policy.links)})
    problems = []
    for rule in policy.rules:
        if rule.approver_role is None or rule.approver_role in known:
            continue
        close = difflib.get_close_matches(rule.approver_role, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            f"{rule.location}: approver role {rule.approver_role!r} is neither in approvals.approver_roles"
            f" nor granted by any g row, so nobody could approve these calls{hint}"
        )
    if problems:
        raise PolicyError.of(problems, policy.files.file_hashes)
