"""A stub of Oracle REST Data Services (ORDS) in front of a real SQL database (SQLite,
seeded with an HR and order-entry schema from `schema.sql`).

ORDS conventions served: OAuth2 client credentials (`POST /ords/hr/oauth/token`), AutoREST
collections `GET /ords/hr/<table>/` with the `q` filter object, `limit`/`offset`, `hasMore`
and links, items `GET /ords/hr/<table>/<id>`, REST-enabled SQL `POST /ords/hr/_/sql`, a
custom module handler `PUT /ords/hr/hr_api/employees/<id>/salary`, and ORDS error bodies.

Callers sign in with a client-credentials token, or, when the stub is given an identity
provider (`tokens`), with a token the gateway obtained by exchange (signature through the
provider's keys, audience this service): its subject is mapped to a database user whose
privileges apply, as ORDS privileges do. A salary change needs `SALARY_PRIVILEGE`; the
salary history names the user who made it. The client-credentials client may do everything.

Run alone: `python -m connectors.oracle.stub --port 8105 --database var/ords.db` (client id
`--client-id`, default `gateway`; secret from ORDS_CLIENT_SECRET, default `demo`). In tests:
`async with serve_app(create_app(tmp_path / "hr.db", client_secret="s")) as base_url:`; the
stanza's url is `base_url + "/ords/hr"`; `app.state.requests` lists what it received.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.auth import ClientCredentialsAuth
from connectors.oracle.options import OracleOptions
from connectors.oracle.qfilter import FilterError, translate
from connectors.stub_tokens import StubTokens, TokenRejected, bearer
from connectors.stubkit import basic_auth_matches, run_stub, serve_if_local, stub_app, stub_arguments
from gateway.config import ConnectorSettings

BASE = "/ords/hr"
#: AutoREST-enabled objects and their primary keys.
TABLES = {
    "employees": "employee_id",
    "departments": "department_id",
    "jobs": "job_id",
    "orders": "order_id",
    "customers": "customer_id",
}
TOKEN_SECONDS = 3600
#: The ORDS privilege protecting the salary module.
SALARY_PRIVILEGE = "oracle.hr.salary.update"
T = TypeVar("T")


class OrdsFault(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(fault: OrdsFault) -> JSONResponse:
    return JSONResponse(
        {
            "code": fault.code,
            "title": fault.code,
            "message": fault.message,
            "type": f"tag:oracle.com,2020:error/{fault.code}",
            "instance": f"tag:oracle.com,2020:ecid/{secrets.token_urlsafe(12)}",
        },
        status_code=fault.status,
    )


@dataclass(frozen=True, slots=True)
class OrdsUser:
    """A database user and its ORDS privileges (None: all, the OAuth client's)."""

    name: str
    privileges: frozenset[str] | None = frozenset()


class OrdsService:
    def __init__(
        self,
        database: Path,
        client_id: str,
        client_secret: str,
        identity: StubTokens | None = None,
        users: Mapping[str, OrdsUser] | None = None,
    ) -> None:
        self.database = database
        self.client_id = client_id
        self.client_secret = client_secret
        self.identity = identity
        #: token subject -> database user.
        self.users = dict(users or {})
        #: access token -> expiry (monotonic seconds); clear it to simulate expired tokens.
        self.tokens: dict[str, float] = {}
        with sqlite3.connect(database) as db:
            db.executescript(resources.files("connectors.oracle").joinpath("schema.sql").read_text("utf-8"))
        self.columns = {table: self._columns(table) for table in TABLES}

    def _columns(self, table: str) -> list[str]:
        with sqlite3.connect(self.database) as db:
            return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on its own connection in a worker thread, committed if it returns."""

        def job() -> T:
            db = sqlite3.connect(self.database)
            db.row_factory = sqlite3.Row
            try:
                with db:
                    return work(db)
            finally:
                db.close()

        return await asyncio.to_thread(job)

    def issue_token(self, request: Request) -> str:
        if not basic_auth_matches(request.headers.get("authorization", ""), self.client_id, self.client_secret):
            raise OrdsFault(401, "Unauthorized", "Invalid client credentials")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = asyncio.get_running_loop().time() + TOKEN_SECONDS
        return token

    async def authorize(self, request: Request) -> OrdsUser:
        token = bearer(request.headers.get("authorization", "")) or ""
        expiry = self.tokens.get(token)
        if expiry is not None and expiry >= asyncio.get_running_loop().time():
            return OrdsUser(self.client_id, None)
        if self.identity is not None and token.count(".") == 2:
            try:
                claims = await self.identity.verify(token)
            except TokenRejected as exc:
                raise OrdsFault(401, "Unauthorized", f"Unauthorized: token not accepted ({exc})") from None
            user = self.users.get(str(claims["sub"]))
            if user is None:
                raise OrdsFault(401, "Unauthorized", f"Unauthorized: no database user is mapped to {claims['sub']}")
            return user
        raise OrdsFault(401, "Unauthorized", "Unauthorized: a valid bearer token is required")


def _links(*rels: tuple[str, str]) -> list[dict[str, str]]:
    return [{"rel": rel, "href": href} for rel, href in rels]


def _count(request: Request, name: str, default: int, maximum: int) -> int:
    text = request.query_params.get(name, str(default))
    if not text.isdigit() or int(text) > maximum:
        raise OrdsFault(400, "BadRequest", f"{name} must be an integer from 0 to {maximum}, got {text!r}")
    return int(text)


def create_app(
    database: Path | str = "var/ords.db",
    *,
    client_id: str = "gateway",
    client_secret: str = "demo",
    tokens: StubTokens | None = None,
    users: Mapping[str, OrdsUser] | None = None,
) -> Starlette:
    """The ORDS stub over the SQLite file `database` (created and seeded if needed); with
    `tokens`, exchanged tokens are accepted too, their subjects mapped to `users`."""
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    service = OrdsService(Path(database), client_id, client_secret, tokens, users)

    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            raise OrdsFault(400, "BadRequest", "grant_type must be client_credentials")
        return JSONResponse(
            {"access_token": service.issue_token(request), "token_type": "bearer", "expires_in": TOKEN_SECONDS}
        )

    async def catalog(request: Request) -> Response:
        await service.authorize(request)
        base = str(request.url_for("catalog"))
        return JSONResponse(
            {"items": [{"name": t.upper(), "links": _links(("canonical", f"{base}{t}/"))} for t in TABLES]}
        )

    async def collection(request: Request) -> Response:
        await service.authorize(request)
        table = request.path_params["table"]
        if table not in TABLES:
            raise OrdsFault(404, "NotFound", f"The requested resource {BASE}/{table}/ does not exist")
        limit = _count(request, "limit", 25, 500)
        offset = _count(request, "offset", 0, 1_000_000)
        try:
            where, params, order = translate(request.query_params.get("q", "{}"), service.columns[table])
        except FilterError as exc:
            raise OrdsFault(400, "BadRequest", f"The filter is invalid: {exc}") from None
        sql = f"SELECT * FROM {table} WHERE {where} ORDER BY {order or TABLES[table]} LIMIT ? OFFSET ?"
        rows = await service.run(lambda db: [dict(r) for r in db.execute(sql, [*params, limit + 1, offset])])
        has_more = len(rows) > limit
        self_url = str(request.url)
        base = f"{request.base_url}{BASE.lstrip('/')}/{table}/"
        items = [{**row, "links": _links(("self", f"{base}{row[TABLES[table]]}"))} for row in rows[:limit]]
        links = [
            ("self", self_url),
            ("describedby", f"{request.base_url}{BASE.lstrip('/')}/metadata-catalog/{table}/"),
            ("first", base),
        ]
        if has_more:
            links.append(("next", str(request.url.include_query_params(offset=offset + limit, limit=limit))))
        if offset > 0:
            links.append(("prev", str(request.url.include_query_params(offset=max(0, offset - limit), limit=limit))))
        return JSONResponse(
            {
                "items": items,
                "hasMore": has_more,
                "limit": limit,
                "offset": offset,
                "count": len(items),
                "links": _links(*links),
            }
        )

    async def item(request: Request) -> Response:
        await service.authorize(request)
        table, key = request.path_params["table"], request.path_params["key"]
        if table not in TABLES:
            raise OrdsFault(404, "NotFound", f"The requested resource {BASE}/{table}/ does not exist")
        rows = await service.run(
            lambda db: [dict(r) for r in db.execute(f"SELECT * FROM {table} WHERE {TABLES[table]} = ?", [key])]
        )
        if not rows:
            raise OrdsFault(404, "NotFound", f"No {table} row has {TABLES[table]} {key}")
        return JSONResponse({**rows[0], "links": _links(("self", str(request.url)))})

    async def update_salary(request: Request) -> Response:
        user = await service.authorize(request)
        if user.privileges is not None and SALARY_PRIVILEGE not in user.privileges:
            raise OrdsFault(
                403, "Forbidden", f"User {user.name} lacks the privilege {SALARY_PRIVILEGE} required by hr_api"
            )
        employee_id = request.path_params["employee_id"]
        body = await request.json()
        salary = body.get("salary") if isinstance(body, dict) else None
        if not isinstance(salary, int) or isinstance(salary, bool):
            raise OrdsFault(400, "BadRequest", "salary must be an integer")
        # The technical client is trusted to name whom it acts for; a person is who they are.
        changed_by = request.headers.get("x-on-behalf-of", "ORDS_PUBLIC_USER") if user.privileges is None else user.name

        def work(db: sqlite3.Connection) -> dict[str, Any]:
            row = db.execute(
                "SELECT e.salary, j.job_id, j.min_salary, j.max_salary FROM employees e "
                "JOIN jobs j USING (job_id) WHERE e.employee_id = ?",
                [employee_id],
            ).fetchone()
            if row is None:
                raise OrdsFault(404, "NotFound", f"Employee {employee_id} does not exist")
            if not row["min_salary"] <= salary <= row["max_salary"]:
                raise OrdsFault(
                    400,
                    "BadRequest",
                    f"ORA-20001: salary {salary} is outside the range "
                    f"{row['min_salary']}-{row['max_salary']} of job {row['job_id']}",
                )
            db.execute("UPDATE employees SET salary = ? WHERE employee_id = ?", [salary, employee_id])
            db.execute(
                "INSERT INTO salary_history (employee_id, old_salary, new_salary, reason, changed_by, "
                "changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    employee_id,
                    row["salary"],
                    salary,
                    body.get("reason"),
                    changed_by,
                    datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                ],
            )
            return {"employee_id": int(employee_id), "old_salary": row["salary"], "new_salary": salary}

        return JSONResponse(await service.run(work))

    async def sql(request: Request) -> Response:
        """REST-enabled SQL: runs what it is given, as ORDS does. Guarding it is the caller's job."""
        await service.authorize(request)
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("statementText"), str):
            raise OrdsFault(400, "BadRequest", "statementText is required")
        binds = {b["name"]: b.get("value") for b in body.get("binds", []) if isinstance(b, dict) and "name" in b}
        limit = int(body.get("limit", 100))

        def work(db: sqlite3.Connection) -> dict[str, Any]:
            cursor = db.execute(body["statementText"], binds)
            if cursor.description is None:
                return {
                    "statementType": "dml",
                    "response": [f"{cursor.rowcount} rows affected"],
                    "result": cursor.rowcount,
                }
            rows = cursor.fetchmany(limit + 1)
            metadata = [{"columnName": d[0].upper(), "jsonColumnName": d[0].lower()} for d in cursor.description]
            items = [{m["jsonColumnName"]: r[i] for i, m in enumerate(metadata)} for r in rows[:limit]]
            return {
                "statementType": "query",
                "resultSet": {
                    "metadata": metadata,
                    "items": items,
                    "hasMore": len(rows) > limit,
                    "limit": limit,
                    "offset": 0,
                    "count": len(items),
                },
            }

        try:
            result = await service.run(work)
        except sqlite3.Error as exc:
            result = {"statementType": "error", "errorCode": 17000, "errorMessage": str(exc)}
        return JSONResponse(
            {
                "env": {"defaultTimeZone": "UTC"},
                "items": [{"statementId": 1, "statementText": body["statementText"], **result}],
            }
        )

    def route(
        path: str, endpoint: Callable[[Request], Awaitable[Response]], methods: list[str], name: str | None = None
    ) -> Route:
        async def guarded(request: Request) -> Response:
            try:
                return await endpoint(request)
            except OrdsFault as fault:
                return _error(fault)
            except ValueError:
                return _error(OrdsFault(400, "BadRequest", "The request body is not valid JSON"))

        return Route(path, guarded, methods=methods, name=name)

    app = stub_app(
        [
            route(f"{BASE}/oauth/token", token, ["POST"]),
            route(f"{BASE}/", catalog, ["GET"], name="catalog"),
            route(f"{BASE}/_/sql", sql, ["POST"]),
            route(BASE + "/hr_api/employees/{employee_id:int}/salary", update_salary, ["PUT"]),
            route(BASE + "/{table}/", collection, ["GET"]),
            route(BASE + "/{table}/{key}", item, ["GET"]),
        ]
    )
    app.state.ords = service
    return app


def serve_for(settings: ConnectorSettings) -> AbstractAsyncContextManager[str | None]:
    """For `gateway demo`: this stub where the stanza points, when that is this machine,
    accepting the stanza's own credentials; yields its base URL, or None if not started."""
    options = OracleOptions.of(settings)
    auth = options.auth
    if not isinstance(auth, ClientCredentialsAuth):
        return serve_if_local(options.url, create_app)
    return serve_if_local(
        options.url,
        lambda: create_app(client_id=auth.client_id, client_secret=auth.client_secret.get_secret_value()),
    )


def main() -> None:
    parser = stub_arguments("Oracle REST Data Services stub over SQLite (HR and orders)", 8105)
    parser.add_argument("--database", default="var/ords.db")
    parser.add_argument("--client-id", default="gateway")
    args = parser.parse_args()
    app = create_app(
        args.database, client_id=args.client_id, client_secret=os.environ.get("ORDS_CLIENT_SECRET", "demo")
    )
    run_stub(app, args)


if __name__ == "__main__":
    main()
