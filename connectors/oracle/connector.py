"""The Oracle connector: HR and order tools over Oracle REST Data Services (AutoREST
collections with the `q` filter, a custom module for salary changes, REST-enabled SQL for
the guarded read-only query tool), signed in as its `auth` section says (OAuth2 client
credentials, or token exchange for the person the agent acts for)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from connectors.auth import backend_auth
from connectors.base import BackendError, CallContext, Health
from connectors.http_backend import Handler, HttpBackend, HttpToolConnector, json_body
from connectors.oracle.options import OracleOptions
from connectors.oracle.sql_guard import QueryRejected, check_query
from connectors.oracle.tools import tool_specs
from connectors.results import json_result
from gateway.config import ConnectorSettings
from gateway.models import ToolResult


def _ords_message(response: httpx.Response) -> str:
    body = json_body(response)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return "backend rejected the request"


def _without_links(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "links"}


class OracleConnector(HttpToolConnector):
    def __init__(self, settings: ConnectorSettings) -> None:
        options = OracleOptions.of(settings)
        self.name = settings.name
        self._http = HttpBackend(
            settings,
            base_url=options.url.rstrip("/"),
            auth=backend_auth(options.auth, settings.name, settings.timeout_seconds, options.tls),
        )
        self._tools = tool_specs(settings.name)
        self._handlers: dict[str, Handler] = {
            "get_employee": self._get_employee,
            "search_employees": self._search_employees,
            "get_order": self._get_order,
            "search_orders": self._search_orders,
            "update_salary": self._update_salary,
            "query": self._query,
        }

    async def health(self) -> Health:
        return await self._http.probe("/")

    async def _json(self, method: str, url: str, context: CallContext, **kwargs: Any) -> Any:
        response = await self._http.send(method, url, context, **kwargs)
        if response.status_code != 200:
            raise self._http.fail(response, _ords_message(response))
        return json_body(response)

    async def _collection(
        self, table: str, q: dict[str, Any], a: Mapping[str, Any], context: CallContext
    ) -> dict[str, Any]:
        params = {"q": json.dumps(q), "limit": a.get("limit", 25), "offset": a.get("offset", 0)}
        page = await self._json("GET", f"/{table}/", context, params=params)
        return {
            table: [_without_links(r) for r in page["items"]],
            "has_more": page["hasMore"],
            "limit": page["limit"],
            "offset": page["offset"],
            "count": page["count"],
        }

    async def _get_employee(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        employee = await self._json("GET", f"/employees/{int(a['employee_id'])}", context)
        return json_result({"employee": _without_links(employee)})

    async def _search_employees(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        q: dict[str, Any] = {"$orderby": {"employee_id": "asc"}}
        for key in ("department_id", "job_id"):
            if key in a:
                q[key] = a[key]
        salary = {op: a[key] for op, key in (("$gte", "min_salary"), ("$lte", "max_salary")) if key in a}
        if salary:
            q["salary"] = salary
        if "last_name_contains" in a:
            q["last_name"] = {"$instr": a["last_name_contains"]}
        return json_result(await self._collection("employees", q, a, context))

    async def _get_order(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        order = await self._json("GET", f"/orders/{int(a['order_id'])}", context)
        return json_result({"order": _without_links(order)})

    async def _search_orders(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        q: dict[str, Any] = {"$orderby": {"order_id": "asc"}}
        for key in ("customer_id", "status"):
            if key in a:
                q[key] = a[key]
        if "since" in a:
            q["order_date"] = {"$gte": a["since"]}
        if "min_total" in a:
            q["order_total"] = {"$gte": a["min_total"]}
        return json_result(await self._collection("orders", q, a, context))

    async def _update_salary(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        body = {"salary": a["salary"], "reason": a.get("reason")}
        change = await self._json("PUT", f"/hr_api/employees/{int(a['employee_id'])}/salary", context, json=body)
        return json_result({"salary_change": change})

    async def _query(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        try:
            checked = check_query(a["sql"], a.get("params", {}))
        except QueryRejected as exc:
            raise BackendError(f"query rejected: {exc}") from None
        body = {
            "statementText": checked.sql,
            "limit": a.get("max_rows", 100),
            "binds": [{"name": k, "value": v} for k, v in checked.binds.items()],
        }
        response = await self._json("POST", "/_/sql", context, json=body)
        (statement,) = response["items"]
        if statement.get("statementType") != "query":
            raise BackendError(f"query failed: {statement.get('errorMessage', 'not a query')}")
        result = statement["resultSet"]
        return json_result(
            {
                "columns": [m["jsonColumnName"] for m in result["metadata"]],
                "rows": result["items"],
                "has_more": result["hasMore"],
            }
        )
