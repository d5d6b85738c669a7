"""A policy directory, read and checked in full: the input to both evaluators."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.inspect.rule import ResultRule
from gateway.policy.errors import PolicyError
from gateway.policy.files import MODEL_FILE, PolicyFiles, read_policy_files
from gateway.policy.model import check_model
from gateway.policy.result_rules import parse_result_rules
from gateway.policy.rules import RoleLink, Rule, check_role_graph, check_unique, parse_rule_file


@dataclass(frozen=True, slots=True)
class Policy:
    files: PolicyFiles
    #: In evaluation order within a decision: files sorted by name, then line.
    rules: tuple[Rule, ...]
    links: tuple[RoleLink, ...]
    #: `result` rows, in file order: every one that matches a call applies.
    results: tuple[ResultRule, ...] = ()

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
        results: list[ResultRule] = []
        for name in files.rule_files:
            file_rules, file_links = parse_rule_file(name, files.texts[name], len(rules))
            rules.extend(file_rules)
            links.extend(file_links)
            results.extend(parse_result_rules(name, files.texts[name]))
        if not rules:
            raise PolicyError(f"{', '.join(files.rule_files)}: no p rows: every call would be denied")
        check_unique(rules, links)
        check_role_graph(links)
    except PolicyError as exc:
        raise PolicyError(str(exc), files.file_hashes) from None
    return Policy(files=files, rules=tuple(rules), links=tuple(links), results=tuple(results))
