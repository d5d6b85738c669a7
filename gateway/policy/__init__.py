"""Policy: Casbin model and CSV rules, checked at load, compiled for speed, explainable."""

from gateway.policy.context import call_context
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError
from gateway.policy.holder import PolicyHolder, ReloadResult

__all__ = ["PolicyEngine", "PolicyError", "PolicyHolder", "ReloadResult", "call_context"]
