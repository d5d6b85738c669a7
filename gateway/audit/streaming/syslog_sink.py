"""Syslog over TCP or TLS, one connection per batch so that the collector acknowledges it.

Plain syslog has no acknowledgement: bytes a collector had not read when it died are
lost without a trace. So each batch is sent on its own connection, then the gateway
half-closes it and waits for the collector to close its side: a collector closes only
after reading everything up to the end of the stream, so a clean close is the
acknowledgement (a reset is not, and the batch is sent again). Blocking sockets in a
worker thread: TLS needs a half-close that asyncio's SSL transport does not offer.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from gateway.audit.streaming.formats import octet_counted, syslog_message
from gateway.audit.streaming.sink import SinkError
from gateway.integrations.sink_settings import SyslogSink
from gateway.models import AuditRecord


class SyslogShipper:
    def __init__(self, settings: SyslogSink) -> None:
        self._settings = settings
        self._hostname = settings.hostname or socket.gethostname() or "-"
        # Its own thread: a hung collector can hold only this sink's, never the shared pool.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"syslog-{settings.name}")
        self._tls: ssl.SSLContext | None = None
        if settings.tls:
            self._tls = ssl.create_default_context(cafile=settings.ca_file)

    async def ship(self, records: Sequence[AuditRecord]) -> None:
        s = self._settings
        payload = b"".join(
            octet_counted(
                syslog_message(r, facility=s.facility, hostname=self._hostname, app_name=s.app_name, format=s.format)
            )
            for r in records
        )
        await asyncio.get_running_loop().run_in_executor(self._thread, self._send, payload)

    def _send(self, payload: bytes) -> None:
        s = self._settings
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.timeout_seconds)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=s.server_name or s.host)
            with sock:
                sock.sendall(payload)
                # Unwrapping would wait for a close_notify that collectors need not send;
                # shutting the TCP stream down (an SSLSocket drops its TLS state here)
                # ends it after our records just the same.
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(4096):
                    pass
        except ssl.SSLError as exc:
            raise SinkError(f"TLS with {s.host}:{s.port} failed: {exc}") from None
        except OSError as exc:
            raise SinkError(f"syslog {s.host}:{s.port}: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        # A delivery still blocked in a socket ends at its timeout; nothing waits for it.
        self._thread.shutdown(wait=False, cancel_futures=True)
