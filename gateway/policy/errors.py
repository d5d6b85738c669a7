"""The one error a policy directory raises (defined with the others in `gateway.errors`)."""

from gateway.errors import PolicyError

__all__ = ["PolicyError"]
