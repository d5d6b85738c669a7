"""The one error approval operations raise (defined with the others in `gateway.errors`)."""

from gateway.errors import ApprovalError
from gateway.errors import ApprovalErrorKind as ErrorKind

__all__ = ["ApprovalError", "ErrorKind"]
