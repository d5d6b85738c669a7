"""The kill switch: suspend an agent, a client application, a tenant or everything, on
every replica at once, and resume it. See `service.py` for the path of a suspension."""

from gateway.suspensions.model import SCOPES, Suspension, SuspensionError, client_of
from gateway.suspensions.service import SuspensionService

__all__ = ["SCOPES", "Suspension", "SuspensionError", "SuspensionService", "client_of"]
