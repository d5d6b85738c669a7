from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from connectors.base import BackendError, CallContext, Connector, create_connector
from connectors.oracle.sql_guard import QueryRejected, check_query
from connectors.oracle.stub import create_app
from connectors.stubkit import serve_app
from gateway.config import ConnectorSettings
from gateway.models import Principal

SECRET = "client-secret-1"


def context() -> CallContext:
    return CallContext(call_id="c", principal=Principal("hr-agent"), traceparent="", timeout=5.0)


@dataclass
class Oracle:
    app: Starlette
    url: str
    database: Path
    connector: Connector

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.connector.call(tool, arguments, context())
        assert result.structured is not None
        return dict(result.structured)

    def sql_requests(self) -> list[str]:
        return [r.json()["statementText"] for r in self.app.state.requests if r.path.endswith("/_/sql")]

    def salaries(self) -> list[tuple[int, int]]:
        with sqlite3.connect(self.database) as db:
            return db.execute("SELECT employee_id, salary FROM employees ORDER BY employee_id").fetchall()


@pytest.fixture
async def oracle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Oracle]:
    monkeypatch.setenv("ORDS_TEST_SECRET", SECRET)
    database = tmp_path / "hr.db"
    app = create_app(database, client_secret=SECRET)
    async with serve_app(app) as base_url:
        connector = create_connector(
            ConnectorSettings(
                "oracle",
                "oracle",
                5.0,
                {
                    "url": base_url + "/ords/hr",
                    "auth": {
                        "kind": "oauth_client_credentials",
                        "client_id": "gateway",
                        "client_secret": "${env:ORDS_TEST_SECRET}",
                    },
                    "on_behalf_of_header": "x-on-behalf-of",
                },
            )
        )
        await connector.start()
        try:
            yield Oracle(app, base_url + "/ords/hr", database, connector)
        finally:
            await connector.close()


async def test_the_gateways_own_client_is_the_identity_used(oracle: Oracle) -> None:
    used = context()
    await oracle.connector.call("get_employee", {"employee_id": 103}, used)
    assert used.backend.identity == {"kind": "oauth_client_credentials", "client_id": "gateway"}


async def test_employees_by_id_and_by_ords_filter(oracle: Oracle) -> None:
    employee = (await oracle.call("get_employee", employee_id=103))["employee"]
    assert (employee["last_name"], employee["job_id"], employee["salary"]) == ("Hunold", "IT_PROG", 9000)
    assert "links" not in employee

    found = await oracle.call("search_employees", department_id=80, min_salary=9000, max_salary=12000)
    assert [e["employee_id"] for e in found["employees"]] == [150, 151]
    page = await oracle.call("search_employees", last_name_contains="er", limit=2)
    assert [e["last_name"] for e in page["employees"]] == ["Ernst", "Tucker"]
    assert page["has_more"] is True

    # The OAuth2 token was fetched once, then reused.
    token_requests = [r for r in oracle.app.state.requests if r.path.endswith("/oauth/token")]
    assert len(token_requests) == 1
    with pytest.raises(BackendError, match=r"No employees row has employee_id 999 \(HTTP 404\)"):
        await oracle.connector.call("get_employee", {"employee_id": 999}, context())


async def test_orders(oracle: Oracle) -> None:
    order = (await oracle.call("get_order", order_id=2357))["order"]
    assert (order["customer_id"], order["currency"], order["order_total"]) == (4, "EUR", 59872.4)
    found = await oracle.call("search_orders", status="PENDING", since="2026-11-01", min_total=10000)
    assert [o["order_id"] for o in found["orders"]] == [2359]


async def test_update_salary_within_the_job_range(oracle: Oracle) -> None:
    change = await oracle.call("update_salary", employee_id=104, salary=6500, reason="annual review")
    assert change["salary_change"] == {"employee_id": 104, "old_salary": 6000, "new_salary": 6500}
    assert (104, 6500) in oracle.salaries()
    with sqlite3.connect(oracle.database) as db:
        assert db.execute("SELECT changed_by, reason FROM salary_history").fetchall() == [("hr-agent", "annual review")]
    with pytest.raises(BackendError, match=r"ORA-20001: salary 50000 is outside the range 4000-10000 of job IT_PROG"):
        await oracle.connector.call("update_salary", {"employee_id": 104, "salary": 50000}, context())


async def test_expired_token_is_renewed(oracle: Oracle) -> None:
    await oracle.call("get_employee", employee_id=100)
    oracle.app.state.ords.tokens.clear()
    await oracle.call("get_employee", employee_id=100)
    paths = [r.path.rsplit("/", 2)[-2:] for r in oracle.app.state.requests]
    assert paths == [
        ["oauth", "token"],
        ["employees", "100"],
        ["employees", "100"],
        ["oauth", "token"],
        ["employees", "100"],
    ]


async def test_query_with_bound_parameters(oracle: Oracle) -> None:
    result = await oracle.call(
        "query",
        sql="SELECT last_name, salary FROM employees WHERE department_id = :dept AND salary > :floor "
        "ORDER BY salary DESC;",
        params={"dept": 60, "floor": 5000},
    )
    assert result == {
        "columns": ["last_name", "salary"],
        "rows": [{"last_name": "Hunold", "salary": 9000}, {"last_name": "Ernst", "salary": 6000}],
        "has_more": False,
    }
    injected = await oracle.call(
        "query", sql="SELECT * FROM employees WHERE last_name = :name", params={"name": "x' OR '1'='1"}
    )
    assert injected["rows"] == []
    limited = await oracle.call("query", sql="SELECT employee_id FROM employees", max_rows=3)
    assert len(limited["rows"]) == 3 and limited["has_more"] is True


INJECTIONS = [
    ("SELECT * FROM employees; DROP TABLE employees", "only a single statement is allowed"),
    ("SELECT * FROM employees WHERE last_name = 'King'", "string literals are not allowed"),
    ("SELECT * FROM employees WHERE 1 = 1 -- AND salary < 0", "comments are not allowed"),
    ("/* read */ DELETE FROM employees", "comments are not allowed"),
    ("DELETE FROM employees", "only SELECT statements are allowed, found 'DELETE'"),
    ("UPDATE employees SET salary = 1", "only SELECT statements are allowed, found 'UPDATE'"),
    ("WITH x AS (SELECT 1) DELETE FROM employees", "DELETE is not allowed in a read-only query"),
    ("SELECT * FROM employees WHERE employee_id = ?", "only named bind parameters (:name) are allowed"),
    ("SELECT * FROM employees WHERE employee_id = ?1", "only named bind parameters"),
    ("SELECT * FROM employees WHERE employee_id = @id", "only named bind parameters"),
    ("ATTACH DATABASE :f AS other", "only SELECT statements are allowed"),
    ("SELECT load_extension(:lib)", "LOAD_EXTENSION is not allowed"),
    ("SELECT * INTO backup FROM employees", "INTO is not allowed"),
    ("SELECT * FROM employees FOR UPDATE", "UPDATE is not allowed"),
    ("SELECT dbms_pipe.receive_message(:p) FROM dual", "DBMS_PIPE is not allowed"),
    ("SELECT * FROM employees WHERE last_name = 'x", "unexpected character"),
    ("SELECT 1\x00; DROP TABLE employees", "unexpected character '\\x00'"),
    ("SELECT 1\uff1bDROP TABLE employees", "unexpected character '\uff1b'"),
    ("SELECT * FROM employees WHERE employee_id = :id", "bind :id has no value in params"),
    ("   ;", "the statement is empty"),
]


async def test_injection_attempts_never_reach_the_database(oracle: Oracle) -> None:
    before = oracle.salaries()
    for sql, message in INJECTIONS:
        params = {name: 1 for name in re.findall(r":([a-z]+)", sql) if name != "id"}
        with pytest.raises(BackendError, match=re.escape(message)):
            await oracle.connector.call("query", {"sql": sql, "params": params}, context())
    assert oracle.sql_requests() == []
    assert oracle.salaries() == before


def test_guard_accepts_ordinary_selects() -> None:
    checked = check_query(
        'SELECT replace(last_name, :a, :b) AS "update", count(*) FROM employees e '
        "JOIN jobs j ON e.job_id = j.job_id GROUP BY 1 HAVING count(*) > 1.5e0 ;",
        {"a": "x", "b": "y"},
    )
    assert checked.sql.endswith("> 1.5e0")
    with pytest.raises(QueryRejected, match=r"params\.c is not used by the statement"):
        check_query("SELECT :a", {"a": 1, "c": 2})
    with pytest.raises(QueryRejected, match="REPLACE is not allowed"):
        check_query("WITH t AS (SELECT 1) REPLACE INTO employees SELECT * FROM t", {})


async def test_stub_rejects_bad_filters_and_tokens(oracle: Oracle) -> None:
    url = oracle.url
    async with httpx.AsyncClient() as client:
        response = await client.get(url + "/employees/")
        assert response.status_code == 401
        assert response.json()["code"] == "Unauthorized"
        token = (
            await client.post(url + "/oauth/token", auth=("gateway", SECRET), data={"grant_type": "client_credentials"})
        ).json()["access_token"]
        headers = {"authorization": f"Bearer {token}"}
        response = await client.get(url + "/employees/", params={"q": '{"salary": {"$regex": "x"}}'}, headers=headers)
        assert response.status_code == 400
        assert response.json()["message"] == "The filter is invalid: unknown operator '$regex' on column 'salary'"
        response = await client.get(url + "/employees/", params={"q": '{"password": 1}'}, headers=headers)
        assert response.json()["message"] == "The filter is invalid: unknown column 'password'"
        page = (await client.get(url + "/orders/", params={"limit": 2, "offset": 2}, headers=headers)).json()
        assert [link["rel"] for link in page["links"]] == ["self", "describedby", "first", "next", "prev"]
        bad = await client.post(
            url + "/oauth/token", auth=("gateway", "wrong"), data={"grant_type": "client_credentials"}
        )
        assert bad.status_code == 401
