"""The hash-chained, signed audit log: append, redact, verify, prove, query, export."""

from __future__ import annotations

from gateway.audit.log import AuditLog, AuditUnavailable
from gateway.audit.sqlite_store import read_records
from gateway.models import AuditRecord

__all__ = ["AuditLog", "AuditRecord", "AuditUnavailable", "read_records"]
