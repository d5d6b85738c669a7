"""A result rule as the policy loader builds it (gateway.policy.result_rules parses the rows):
what it applies to, what it does, and the compiled means to do it."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from gateway.inspect.detectors import Detector
from gateway.inspect.paths import FieldPath
from gateway.inspect.screening import Screen


class Action(enum.StrEnum):
    REDACT = "redact"
    MASK = "mask"
    LIMIT = "limit"
    DENY = "deny"
    SCREEN = "screen"


#: The modes each action accepts after a colon; the first is the default.
MODES: dict[Action, tuple[str, ...]] = {
    Action.REDACT: ("",),
    Action.MASK: ("",),
    Action.LIMIT: ("truncate", "refuse"),
    Action.DENY: ("", "hold"),
    Action.SCREEN: ("flag", "strip", "deny", "hold"),
}


@dataclass(frozen=True, slots=True)
class ResultRule:
    location: str
    sub: str
    dom: str
    obj: str
    action: Action
    mode: str
    target: str
    exempt: frozenset[str]
    comment: str
    obj_pattern: re.Pattern[str]
    paths: tuple[FieldPath, ...] = ()
    detector: Detector | None = None
    limit: tuple[str, int] | None = None
    pattern: re.Pattern[str] | None = None
    screen: Screen | None = None

    def matches_object(self, obj: str) -> bool:
        return self.obj_pattern.fullmatch(obj) is not None

    def describe(self) -> str:
        mode = f":{self.mode}" if self.mode else ""
        purpose = f" ({self.comment})" if self.comment else ""
        return f"{self.location} {self.action.value}{mode} {self.target}{purpose}"
