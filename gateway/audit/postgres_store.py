"""The audit log in PostgreSQL (asyncpg): every SQL statement of the PostgreSQL store is in
this module. Several gateway replicas may write one chain: a writer holds the records
table's EXCLUSIVE lock (readers are not blocked) from reading the head, through sealing
its batch after it, to the commit, so replicas' batches take turns on one chain.

As in SQLite, the record body (canonical JSON) is the only stored truth; the searched
columns are generated from it, and triggers refuse UPDATE, DELETE, TRUNCATE and any INSERT
but the next sequence number.

URL: `postgresql://user:password@host:5432/database?schema=NAME`; `schema` (default: the
server's search_path) is created if absent, so one database can hold several logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from gateway.audit.chain import GENESIS_HASH, Sealed, parse
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.query import CallQuery
from gateway.audit.store import Head, StoreError
from gateway.models import AuditRecord

URL_SCHEMES = ("postgresql://", "postgres://")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_records (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    body TEXT NOT NULL,
    ts DOUBLE PRECISION GENERATED ALWAYS AS ((body::jsonb ->> 'ts')::double precision) STORED,
    kind TEXT GENERATED ALWAYS AS (body::jsonb ->> 'kind') STORED,
    call_id TEXT GENERATED ALWAYS AS (body::jsonb ->> 'call_id') STORED,
    agent TEXT GENERATED ALWAYS AS (body::jsonb #>> '{data,principal,subject}') STORED,
    connector TEXT GENERATED ALWAYS AS (body::jsonb #>> '{data,connector}') STORED,
    tool TEXT GENERATED ALWAYS AS (body::jsonb #>> '{data,tool}') STORED,
    trace_id TEXT GENERATED ALWAYS AS (body::jsonb #>> '{data,trace_id}') STORED,
    outcome TEXT GENERATED ALWAYS AS (CASE body::jsonb ->> 'kind'
        WHEN 'call.decided' THEN body::jsonb #>> '{data,effect}'
        WHEN 'call.completed' THEN body::jsonb #>> '{data,status}'
        WHEN 'call.rejected' THEN 'rejected' END) STORED,
    approver TEXT GENERATED ALWAYS AS (CASE body::jsonb ->> 'kind'
        WHEN 'approval.voted' THEN body::jsonb #>> '{data,approver}' END) STORED
);
CREATE INDEX IF NOT EXISTS audit_records_call ON audit_records (call_id) WHERE call_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_records_received ON audit_records (ts) WHERE kind = 'call.received';
CREATE INDEX IF NOT EXISTS audit_records_agent ON audit_records (agent) WHERE kind = 'call.received';
CREATE INDEX IF NOT EXISTS audit_records_trace ON audit_records (trace_id) WHERE trace_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    size BIGINT PRIMARY KEY,
    body TEXT NOT NULL,
    merkle_state BYTEA
);
ALTER TABLE audit_checkpoints ADD COLUMN IF NOT EXISTS merkle_state BYTEA;
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit % are append-only: % refused', TG_ARGV[0], TG_OP;
END $$;
CREATE OR REPLACE FUNCTION audit_next_record_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq IS DISTINCT FROM (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_records) THEN
        RAISE EXCEPTION 'audit records are append-only: only the next seq may be inserted';
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION audit_larger_checkpoint_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size <= (SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints)
       OR NEW.size > (SELECT COALESCE(MAX(seq), 0) FROM audit_records) THEN
        RAISE EXCEPTION 'audit checkpoints are append-only: only a larger size may be inserted';
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER audit_records_no_change BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('records');
CREATE OR REPLACE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change('records');
CREATE OR REPLACE TRIGGER audit_records_append_only BEFORE INSERT ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_next_record_only();
CREATE OR REPLACE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('checkpoints');
CREATE OR REPLACE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change('checkpoints');
CREATE OR REPLACE TRIGGER audit_checkpoints_append_only BEFORE INSERT ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_larger_checkpoint_only();
"""

#: Replicas starting together must not race on CREATE ... IF NOT EXISTS.
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('agent-gateway audit schema ' || $1, 0))"
#: Writers on other replicas wait; readers do not (EXCLUSIVE allows ACCESS SHARE).
_WRITE_LOCK = "LOCK TABLE audit_records IN EXCLUSIVE MODE"
_CHECKPOINTED = "SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints"
_INSERT_RECORD = "INSERT INTO audit_records (seq, hash, body) VALUES ($1, $2, $3)"
_INSERT_CHECKPOINT = "INSERT INTO audit_checkpoints (size, body, merkle_state) VALUES ($1, $2, $3)"
_HEAD = "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1"
_HASHES = "SELECT hash FROM audit_records WHERE seq > $1 AND seq <= $2 ORDER BY seq"
_MERKLE_STATE = "SELECT size, merkle_state FROM audit_checkpoints ORDER BY size DESC LIMIT 1"
_ROWS = "SELECT seq, hash, body FROM audit_records"
_CHECKPOINTS = "SELECT body FROM audit_checkpoints ORDER BY size"

_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def is_postgres_url(database: str) -> bool:
    return database.startswith(URL_SCHEMES)


def split_schema(url: str) -> tuple[str, str | None]:
    """(the URL without `schema=`, the schema name or None); StoreError on a bad name."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    if len(schemas) > 1 or (schemas and not _SCHEMA_NAME.match(schemas[0])):
        raise StoreError(f"audit.database: schema must be one lower-case SQL name, got {schemas}")
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schemas[0] if schemas else None


def redacted_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


class PostgresAuditStore:
    """AuditStore on PostgreSQL: a small connection pool shared by the writer and queries."""

    def __init__(self, url: str, *, max_connections: int = 4, connect_timeout: float = 10.0) -> None:
        self.url, self.schema = split_schema(url)
        self._where = redacted_url(self.url) + (f" (schema {self.schema})" if self.schema else "")
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._pool: asyncpg.Pool | None = None
        #: The connection holding the write lock inside `exclusive()`.
        self._writing: asyncpg.Connection | None = None

    def __repr__(self) -> str:
        return f"PostgresAuditStore({self._where})"

    async def open(self) -> Head:
        settings = {"search_path": self.schema} if self.schema else {}
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self._max_connections,
                timeout=self._connect_timeout,
                server_settings=settings,
            )
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(_SCHEMA_LOCK, self.schema or "")
                if self.schema:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute(_SCHEMA)
            return await self.head()
        except (*_ERRORS, ValueError) as exc:
            await self.close()
            raise StoreError(f"cannot open audit database {self._where}: {exc}") from None

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                async with asyncio.timeout(5):
                    await pool.close()
            except (*_ERRORS,):
                pool.terminate()

    def _need(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError(f"audit database {self._where} is not open")
        return self._pool

    async def ping(self) -> None:
        await self._fetch("SELECT 1")

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[Head]:
        try:
            async with self._need().acquire() as conn, conn.transaction():
                await conn.execute(_WRITE_LOCK)
                rows = await conn.fetch(_HEAD)
                self._writing = conn
                try:
                    yield _head(rows)
                finally:
                    self._writing = None
        except _ERRORS as exc:
            raise StoreError(f"audit database {self._where}: {exc}") from None

    async def write(
        self, records: Sequence[Sealed], checkpoint: Checkpoint | None, merkle_state: bytes | None = None
    ) -> None:
        try:
            if self._writing is not None:
                await self._insert(self._writing, records, checkpoint, merkle_state)
                return
            async with self._need().acquire() as conn, conn.transaction():
                await conn.execute(_WRITE_LOCK)
                await self._insert(conn, records, checkpoint, merkle_state)
        except _ERRORS as exc:
            raise StoreError(f"audit database {self._where}: {exc}") from None

    @staticmethod
    async def _insert(
        conn: asyncpg.Connection,
        records: Sequence[Sealed],
        checkpoint: Checkpoint | None,
        merkle_state: bytes | None,
    ) -> None:
        # The append-only trigger refuses any seq but the next one: a batch sealed after a
        # stale head fails whole instead of forking the chain.
        await conn.executemany(_INSERT_RECORD, [(r.seq, r.hash, r.body.decode()) for r in records])
        # Another replica may have signed a larger checkpoint meanwhile: it covers this one.
        if checkpoint is not None and checkpoint.size > await conn.fetchval(_CHECKPOINTED):
            await conn.execute(_INSERT_CHECKPOINT, checkpoint.size, checkpoint.encode().decode(), merkle_state)

    async def _fetch(self, sql: str, *params: object) -> list[asyncpg.Record]:
        try:
            rows: list[asyncpg.Record] = await self._need().fetch(sql, *params)
            return rows
        except _ERRORS as exc:
            raise StoreError(f"audit database {self._where}: {exc}") from None

    async def head(self) -> Head:
        return _head(await self._fetch(_HEAD))

    async def record_hashes(self, after: int, upto: int) -> list[bytes]:
        return [bytes.fromhex(row["hash"]) for row in await self._fetch(_HASHES, after, upto)]

    async def merkle_state(self) -> tuple[int, bytes] | None:
        rows = await self._fetch(_MERKLE_STATE)
        return (
            (rows[0]["size"], bytes(rows[0]["merkle_state"])) if rows and rows[0]["merkle_state"] is not None else None
        )

    async def _records(self, where: str, *params: object) -> list[AuditRecord]:
        return [parse(row["body"].encode(), row["hash"]) for row in await self._fetch(f"{_ROWS} {where}", *params)]

    async def records(self, after_seq: int, limit: int) -> list[AuditRecord]:
        return await self._records("WHERE seq > $1 ORDER BY seq LIMIT $2", after_seq, limit)

    async def latest(self, limit: int) -> list[AuditRecord]:
        newest_first = await self._records("ORDER BY seq DESC LIMIT $1", limit)
        return newest_first[::-1]

    async def record(self, seq: int) -> AuditRecord | None:
        found = await self._records("WHERE seq = $1", seq)
        return found[0] if found else None

    async def find_calls(self, query: CallQuery) -> list[str]:
        params: list[object] = [query.after_seq]
        where = ["r.kind = 'call.received'", "r.seq > $1"]

        def param(value: object) -> str:
            params.append(value)
            return f"${len(params)}"

        for column, value in (
            ("agent", query.agent),
            ("connector", query.connector),
            ("tool", query.tool),
            ("trace_id", query.trace_id),
            ("call_id", query.call_id),
        ):
            if value is not None:
                where.append(f"r.{column} = {param(value)}")
        if query.since is not None:
            where.append(f"r.ts >= {param(query.since)}")
        if query.until is not None:
            where.append(f"r.ts < {param(query.until)}")
        for column, value in (("outcome", query.outcome), ("approver", query.approver)):
            if value is not None:
                match = f"o.call_id = r.call_id AND o.{column} = {param(value)}"
                where.append(f"EXISTS (SELECT 1 FROM audit_records o WHERE {match})")
        limit = param(query.limit)
        order = "DESC" if query.newest_first else "ASC"
        sql = f"SELECT r.call_id FROM audit_records r WHERE {' AND '.join(where)} ORDER BY r.seq {order} LIMIT {limit}"
        return [row["call_id"] for row in await self._fetch(sql, *params)]

    async def trace_calls(self, trace_id: str) -> list[str]:
        sql = (
            "SELECT call_id FROM audit_records WHERE trace_id = $1 AND call_id IS NOT NULL "
            "GROUP BY call_id ORDER BY MIN(seq)"
        )
        return [row["call_id"] for row in await self._fetch(sql, trace_id)]

    async def approval_calls(self, approval_id: str) -> list[str]:
        sql = (
            "SELECT call_id FROM audit_records WHERE body::jsonb #>> '{data,approval_id}' = $1 "
            "AND call_id IS NOT NULL GROUP BY call_id ORDER BY MIN(seq)"
        )
        return [row["call_id"] for row in await self._fetch(sql, approval_id)]

    async def call_records(self, call_ids: Sequence[str]) -> list[AuditRecord]:
        if not call_ids:
            return []
        return await self._records("WHERE call_id = ANY($1::text[]) ORDER BY seq", list(call_ids))

    async def checkpoints(self) -> list[Checkpoint]:
        return [Checkpoint.decode(row["body"].encode()) for row in await self._fetch(_CHECKPOINTS)]


def read_postgres_records(url: str, page: int = 5000) -> Iterator[AuditRecord]:
    """Every record of a PostgreSQL log in order, page by page, for offline readers that
    have no event loop of their own (policy replay): the twin of sqlite_store.read_records."""
    loop = asyncio.new_event_loop()
    store = PostgresAuditStore(url)
    try:
        loop.run_until_complete(store.open())
        after = 0
        while records := loop.run_until_complete(store.records(after, page)):
            yield from records
            after = records[-1].seq
    finally:
        loop.run_until_complete(store.close())
        loop.close()


def _head(rows: list[asyncpg.Record]) -> Head:
    return Head(rows[0]["seq"], rows[0]["hash"]) if rows else Head(0, GENESIS_HASH)
