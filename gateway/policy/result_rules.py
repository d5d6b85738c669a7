"""Result rules: `result` rows of the policy's CSV files.

```
result, SUBJECT-OR-ROLE, TENANT, CONNECTOR.TOOL-GLOB, ACTION, TARGET, EXCEPT
```

The object is named as the policy names the request: `connector.tool`, `prompts/connector.prompt`,
`resources/connector.URI` (a completion as the prompt or template it completes). `*` stops
at `/` as in `p` rows; `**` crosses it (`resources/**`: every resource; `**`: every answer).

ACTION and TARGET:
- `redact`: field paths (`vendors[*].IBAN **.salary`);
- `mask`: entity names (`IBAN CREDIT_CARD EMAIL PHONE NATIONAL_ID ...`);
- `limit` or `limit:refuse`: `rows N`, `items N` or `bytes N` (truncate with a note, or refuse);
- `deny` or `deny:hold`: entity names, or `/REGEX/`: refuse a result in which one is found,
  or hold it for a reviewer's approval;
- `screen:flag|strip|deny|hold`: checks `unicode markers links(HOST ...) instructions`.
EXCEPT is `-` or the subjects and roles the rule does not apply to.
"""

from __future__ import annotations

import re

from gateway.inspect.detectors import Detector, expand
from gateway.inspect.paths import parse_path
from gateway.inspect.rule import MODES, Action, ResultRule
from gateway.inspect.screening import parse_checks
from gateway.policy.errors import PolicyError
from gateway.policy.rules import RESULT_ROW, check_name, check_object, object_pattern, parse_rule_rows

RESULT_COLUMNS = ("sub", "dom", "obj", "action", "target", "except")
LIMIT_UNITS = ("rows", "items", "bytes")
_WORDS = re.compile(r"\S*\([^)]*\)|\S+")


def _action(text: str) -> tuple[Action, str]:
    name, _, mode = text.partition(":")
    try:
        action = Action(name)
    except ValueError:
        raise ValueError(f"result action {name!r} must be one of {', '.join(a.value for a in Action)}") from None
    modes = MODES[action]
    if not mode:
        return action, modes[0]
    if mode not in modes:
        raise ValueError(
            f"{action.value} takes no mode"
            if modes == ("",)
            else f"{action.value} mode {mode!r} must be one of {', '.join(m for m in modes if m)}"
        )
    return action, mode


def _target(action: Action, target: str) -> dict[str, object]:
    words = _WORDS.findall(target)
    if not words:
        raise ValueError(f"{action.value} needs a target")
    if action is Action.REDACT:
        return {"paths": tuple(parse_path(word) for word in words)}
    if action is Action.MASK:
        return {"detector": Detector(expand(words))}
    if action is Action.LIMIT:
        if len(words) != 2 or words[0] not in LIMIT_UNITS or not words[1].isdigit() or int(words[1]) < 1:
            raise ValueError(f"limit target {target!r} must read 'rows N', 'items N' or 'bytes N' with N >= 1")
        return {"limit": (words[0], int(words[1]))}
    if action is Action.DENY:
        if target.startswith("/") and target.endswith("/") and len(target) > 2:
            try:
                return {"pattern": re.compile(target[1:-1])}
            except re.error as exc:
                raise ValueError(f"deny pattern {target!r} is not a regular expression: {exc}") from None
        return {"detector": Detector(expand(words))}
    return {"screen": parse_checks(words)}


def parse_result_rule(values: list[str], location: str, comment: str) -> ResultRule:
    if len(values) != len(RESULT_COLUMNS):
        raise ValueError(
            f"{RESULT_ROW} row has {len(values)} columns, expected {len(RESULT_COLUMNS)}: {', '.join(RESULT_COLUMNS)}"
        )
    sub, dom, obj, action_text, target, exempt_text = values
    check_name(sub, "subject", wildcard=True)
    check_name(dom, "tenant", wildcard=True)
    if "***" in obj:
        raise ValueError(f"object {obj!r}: write * (stops at /) or ** (crosses /), not more")
    check_object(obj.replace("**", "*"))
    action, mode = _action(action_text)
    exempt = frozenset() if exempt_text == "-" else frozenset(exempt_text.split())
    for name in exempt:
        check_name(name, "exempt subject or role", wildcard=False)
    return ResultRule(
        location=location,
        sub=sub,
        dom=dom,
        obj=obj,
        action=action,
        mode=mode,
        target=target,
        exempt=exempt,
        comment=comment,
        obj_pattern=object_pattern(obj, deep=True),
        **_target(action, target),  # type: ignore[arg-type]
    )


def parse_result_rules(name: str, text: str) -> list[ResultRule]:
    """The `result` rows of one CSV file alone; PolicyError naming `name:line:column` for
    each bad row (the loader parses them with the other rows in one pass)."""
    found: list[ResultRule] = []

    def result_row(values: list[str], location: str, comment: str) -> None:
        found.append(parse_result_rule(values, location, comment))

    _, _, problems = parse_rule_rows(name, text, 0, {RESULT_ROW: result_row})
    if problems:
        raise PolicyError.of(problems)
    return found
