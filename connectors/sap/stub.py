"""A stub of an SAP Gateway OData V2 service (API_PURCHASEORDER_SRV) that behaves like the
real one where an integrator notices: basic auth, the `x-csrf-token: Fetch` handshake
before any modifying request (token bound to the session cookie), `$filter`, `$select`,
`$top`, `$skip`, `$orderby`, `$expand`, `$inlinecount`, and SAP-style error bodies.

Callers sign in with the technical user (basic auth), or, when the stub is given an
identity provider (`tokens`), with a token the gateway obtained by exchange: its signature
is checked through the provider's keys and its audience must be this service. Its subject
is mapped to an SAP user (principal propagation) whose own authorizations apply: releasing
a purchase order needs release authority (authorization object M_EINK_FRG) for the order's
company code, else SAP's own error comes back. The technical user may do everything.

A modifying request with the header `x-sap-testrun: X` is a test run (like a BAPI called
with TESTRUN = 'X'): it is checked and answered with what would be stored, and changes nothing.

Run alone: `python -m connectors.sap.stub --port 8101` (password from SAP_PASSWORD, default
`demo`). In tests: `async with serve_app(create_app(password="pw")) as base_url:`; the service
root is `base_url + SERVICE_PATH`; `app.state.requests` lists every request received.
"""

from __future__ import annotations

import base64
import datetime
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.auth import BasicAuth
from connectors.sap import odata
from connectors.sap.odata import TEST_RUN_HEADER
from connectors.sap.options import SapOptions
from connectors.sap.stub_data import CURRENCIES, ENTITY_SETS, EntitySet, seed
from connectors.stub_tokens import StubTokens, TokenRejected, bearer
from connectors.stubkit import basic_auth_matches, run_stub, serve_if_local, stub_app, stub_arguments
from gateway.config import ConnectorSettings

SERVICE = "API_PURCHASEORDER_SRV"
SERVICE_PATH = f"/sap/opu/odata/sap/{SERVICE}"
SESSION_COOKIE = "SAP_SESSIONID_DEM_100"
TEST_RUN_NUMBER = "$TESTRUN"
_MODIFYING = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})
_RESOURCE = re.compile(r"^(?P<set>\w+)(?:\('(?P<key>(?:[^']|'')*)'\))?(?:/(?P<nav>\w+))?$")


class SapFault(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _error(fault: SapFault) -> JSONResponse:
    body = {
        "error": {
            "code": fault.code,
            "message": {"lang": "en", "value": fault.message},
            "innererror": {
                "application": {
                    "component_id": "MM-PUR-PO",
                    "service_namespace": "/SAP/",
                    "service_id": SERVICE,
                    "service_version": "0001",
                },
                "transactionid": secrets.token_hex(16).upper(),
                "timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S.%f"),
                "errordetails": [{"code": fault.code, "message": fault.message, "severity": "error"}],
            },
        }
    }
    return JSONResponse(body, status_code=fault.status, headers=fault.headers)


@dataclass(frozen=True, slots=True)
class SapUser:
    """An SAP user and the company codes it may release purchase orders in (None: all)."""

    name: str
    release_company_codes: frozenset[str] | None = frozenset()


_LOGON_FAILED = "/IWFND/CM_CONSUMER/001"
_WWW_AUTHENTICATE = {"www-authenticate": 'Basic realm="SAP NetWeaver Application Server [DEM/100]"'}


class SapService:
    """The state of one stub instance: data, CSRF tokens per session and user, the
    technical user, and the users a verified token's subject maps to."""

    def __init__(
        self,
        username: str,
        password: str,
        tokens: StubTokens | None = None,
        users: Mapping[str, SapUser] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.tokens = tokens
        #: token subject -> SAP user (principal propagation).
        self.users = dict(users or {})
        self.data = seed()
        #: (session cookie, user) -> CSRF token; clear it to simulate expired tokens.
        self.csrf_tokens: dict[tuple[str, str], str] = {}

    # -- protocol ---------------------------------------------------------------------
    async def authenticate(self, request: Request) -> SapUser:
        authorization = request.headers.get("authorization", "")
        token = bearer(authorization)
        if token is not None and self.tokens is not None:
            try:
                claims = await self.tokens.verify(token)
            except TokenRejected as exc:
                raise SapFault(401, _LOGON_FAILED, f"Logon failed: token not accepted ({exc})") from None
            user = self.users.get(str(claims["sub"]))
            if user is None:
                raise SapFault(401, _LOGON_FAILED, f"Logon failed: no SAP user is mapped to {claims['sub']}")
            return user
        if not basic_auth_matches(authorization, self.username, self.password):
            raise SapFault(401, _LOGON_FAILED, "Logon failed: user or password is wrong", _WWW_AUTHENTICATE)
        return SapUser(self.username.upper(), None)

    def check_csrf(self, request: Request, user: SapUser) -> None:
        session = request.cookies.get(SESSION_COOKIE, "")
        expected = self.csrf_tokens.get((session, user.name))
        given = request.headers.get("x-csrf-token", "")
        if expected is None or not secrets.compare_digest(given, expected):
            raise SapFault(403, "/IWFND/CM_BEC/026", "CSRF token validation failed", {"x-csrf-token": "Required"})

    def fetch_csrf(self, request: Request, response: Response, user: SapUser) -> None:
        session = request.cookies.get(SESSION_COOKIE) or secrets.token_urlsafe(16)
        token = self.csrf_tokens.setdefault((session, user.name), base64.b64encode(secrets.token_bytes(18)).decode())
        response.headers["x-csrf-token"] = token
        response.set_cookie(SESSION_COOKIE, session, httponly=True, path="/sap")

    # -- rendering --------------------------------------------------------------------
    def uri(self, request: Request, entity_set: EntitySet, row: dict[str, Any]) -> str:
        return f"{request.base_url}{SERVICE_PATH.lstrip('/')}/{entity_set.name}('{row[entity_set.key]}')"

    def render(
        self,
        request: Request,
        entity_set: EntitySet,
        row: dict[str, Any],
        *,
        select: list[str] | None = None,
        expand: Sequence[str] = (),
    ) -> dict[str, Any]:
        uri = self.uri(request, entity_set, row)
        out: dict[str, Any] = {"__metadata": {"id": uri, "uri": uri, "type": f"{SERVICE}.{entity_set.name}Type"}}
        for name in select or entity_set.fields:
            value = row[name]
            out[name] = f"{value:.2f}" if name in entity_set.decimals else value
        for nav, (target_name, foreign) in entity_set.navigation.items():
            if select and nav not in expand:
                continue
            if nav in expand:
                target = ENTITY_SETS[target_name]
                related = [r for r in self.data[target_name] if r[foreign] == row[entity_set.key]]
                out[nav] = {"results": [self.render(request, target, r) for r in related]}
            else:
                out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
        return out

    # -- reads ------------------------------------------------------------------------
    def query(self, request: Request, entity_set: EntitySet, rows: list[dict[str, Any]]) -> dict[str, Any]:
        q = request.query_params
        try:
            if "$filter" in q:
                predicate = odata.parse_filter(q["$filter"], entity_set.fields)
                rows = [r for r in rows if predicate(r)]
            total = len(rows)
            if "$orderby" in q:
                rows = odata.sort_rows(
                    rows, odata.parse_orderby(q["$orderby"], entity_set.fields), set(entity_set.decimals)
                )
            skip = odata.parse_count("$skip", q.get("$skip", "0"))
            top = odata.parse_count("$top", q["$top"]) if "$top" in q else None
            select = odata.parse_select(q["$select"], entity_set.fields) if "$select" in q else None
        except odata.ODataError as exc:
            raise SapFault(400, "/IWBEP/CM_MGW_RT/022", f"Invalid system query option: {exc}") from None
        rows = rows[skip:] if top is None else rows[skip : skip + top]
        result: dict[str, Any] = {"results": [self.render(request, entity_set, r, select=select) for r in rows]}
        if q.get("$inlinecount") == "allpages":
            result["__count"] = str(total)
        return {"d": result}

    def find(self, entity_set: EntitySet, key: str) -> dict[str, Any]:
        for row in self.data[entity_set.name]:
            if row[entity_set.key] == key:
                return row
        raise SapFault(
            404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{entity_set.name}Type' with key '{key}'"
        )

    # -- writes -----------------------------------------------------------------------
    def create_purchase_order(self, body: dict[str, Any], user: SapUser, *, commit: bool = True) -> dict[str, Any]:
        supplier_id = str(body.get("Supplier", ""))
        supplier = next((s for s in self.data["A_Supplier"] if s["Supplier"] == supplier_id), None)
        if supplier is None:
            raise SapFault(400, "ME/083", f"Supplier {supplier_id} does not exist")
        if supplier["IsBlocked"]:
            raise SapFault(400, "ME/045", f"Supplier {supplier_id} is blocked for purchasing")
        currency = _currency(body.get("DocumentCurrency"))
        amount = _amount(body.get("NetAmount"), "NetAmount")
        description = str(body.get("Description", ""))
        if not description or len(description) > 120:
            raise SapFault(400, "ME/016", "Description must have 1 to 120 characters")
        orders = self.data["A_PurchaseOrder"]
        # A test run assigns no number, as BAPI_PO_CREATE1 with TESTRUN = 'X' commits nothing.
        number = str(max(int(o["PurchaseOrder"]) for o in orders) + 1) if commit else TEST_RUN_NUMBER
        row = {
            "PurchaseOrder": number,
            "Supplier": supplier_id,
            "CompanyCode": str(body.get("CompanyCode", "1010")),
            "DocumentCurrency": currency,
            "NetAmount": amount,
            "Description": description,
            "ReleaseStatus": "NOT_RELEASED",
            "CreatedByUser": user.name,
            "CreationDate": datetime.date.today().isoformat(),
        }
        if commit:
            orders.append(row)
        return row

    def release(self, order_id: str, user: SapUser, *, commit: bool = True) -> dict[str, Any]:
        order = self.find(ENTITY_SETS["A_PurchaseOrder"], order_id)
        allowed = user.release_company_codes
        if allowed is not None and order["CompanyCode"] not in allowed:
            raise SapFault(
                403,
                "ME/179",
                f"User {user.name} has no release authorization for purchase orders in company code "
                f"{order['CompanyCode']} (authorization object M_EINK_FRG)",
            )
        if order["ReleaseStatus"] == "RELEASED":
            raise SapFault(400, "MEPO/012", f"Purchase order {order_id} is already released")
        if order["ReleaseStatus"] == "CANCELLED":
            raise SapFault(400, "MEPO/013", f"Purchase order {order_id} is cancelled and cannot be released")
        released = {**order, "ReleaseStatus": "RELEASED"}
        if commit:
            order.update(released)
        return released

    def cancel(self, order_id: str, user: SapUser, *, commit: bool = True) -> dict[str, Any]:
        """Set the deletion indicator: only an order nothing was invoiced against."""
        order = self.find(ENTITY_SETS["A_PurchaseOrder"], order_id)
        if order["ReleaseStatus"] == "CANCELLED":
            raise SapFault(400, "MEPO/014", f"Purchase order {order_id} is already cancelled")
        if any(i["PurchaseOrder"] == order_id for i in self.data["A_SupplierInvoice"]):
            raise SapFault(400, "M8/322", f"Purchase order {order_id} has invoices posted and cannot be cancelled")
        cancelled = {**order, "ReleaseStatus": "CANCELLED"}
        if commit:
            order.update(cancelled)
        return cancelled

    def post_invoice(self, body: dict[str, Any], user: SapUser, *, commit: bool = True) -> dict[str, Any]:
        order_id = str(body.get("PurchaseOrder", ""))
        order = self.find(ENTITY_SETS["A_PurchaseOrder"], order_id)
        if order["ReleaseStatus"] != "RELEASED":
            raise SapFault(400, "M8/321", f"Purchase order {order_id} is not released; no invoice can be posted")
        currency = _currency(body.get("DocumentCurrency"))
        if currency != order["DocumentCurrency"]:
            raise SapFault(
                400,
                "M8/104",
                f"Invoice currency {currency} differs from purchase order currency {order['DocumentCurrency']}",
            )
        amount = _amount(body.get("InvoiceAmount"), "InvoiceAmount")
        invoices = self.data["A_SupplierInvoice"]
        invoiced = sum((i["InvoiceAmount"] for i in invoices if i["PurchaseOrder"] == order_id), Decimal(0))
        open_amount = order["NetAmount"] - invoiced
        if amount > open_amount:
            raise SapFault(
                400,
                "M8/087",
                f"Invoice amount {amount:.2f} exceeds the open amount {open_amount:.2f} {currency} "
                f"of purchase order {order_id}",
            )
        row = {
            "SupplierInvoice": str(max(int(i["SupplierInvoice"]) for i in invoices) + 1) if commit else TEST_RUN_NUMBER,
            "PurchaseOrder": order_id,
            "InvoiceAmount": amount,
            "DocumentCurrency": currency,
            "PostingDate": datetime.date.today().isoformat(),
            "CreatedByUser": user.name,
        }
        if commit:
            invoices.append(row)
        return row


def _currency(value: Any) -> str:
    if value not in CURRENCIES:
        raise SapFault(400, "FN/003", f"Currency {value!r} is not defined")
    return str(value)


def _amount(value: Any, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise SapFault(400, "/IWBEP/CM_MGW_RT/001", f"Property {name} has invalid value {value!r}") from None
    exponent = amount.as_tuple().exponent
    too_precise = not isinstance(exponent, int) or exponent < -2
    if not amount.is_finite() or amount <= 0 or too_precise or amount >= Decimal("1e11"):
        raise SapFault(
            400,
            "/IWBEP/CM_MGW_RT/001",
            f"Property {name} must be a positive amount with at most 2 decimals, got {value!r}",
        )
    return amount


def _literal_key(text: str) -> str:
    return text.replace("''", "'")


def create_app(
    *,
    username: str = "demo",
    password: str = "demo",
    tokens: StubTokens | None = None,
    users: Mapping[str, SapUser] | None = None,
) -> Starlette:
    """The stub; with `tokens`, exchanged tokens are accepted too, their subjects mapped to
    `users` (token subject -> SAP user)."""
    service = SapService(username, password, tokens, users)

    async def root(request: Request) -> Response:
        try:
            user = await service.authenticate(request)
        except SapFault as fault:
            return _error(fault)
        response = JSONResponse({"d": {"EntitySets": sorted(ENTITY_SETS)}})
        if request.headers.get("x-csrf-token", "").lower() == "fetch":
            service.fetch_csrf(request, response, user)
        return response

    async def resource(request: Request) -> Response:
        try:
            user = await service.authenticate(request)
            if request.method in _MODIFYING:
                service.check_csrf(request, user)
            response = await _dispatch(request, user)
        except SapFault as fault:
            return _error(fault)
        if request.method == "GET" and request.headers.get("x-csrf-token", "").lower() == "fetch":
            service.fetch_csrf(request, response, user)
        return response

    async def _dispatch(request: Request, user: SapUser) -> Response:
        path = request.path_params["path"]
        match = _RESOURCE.match(path)
        if match is None:
            raise SapFault(404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for segment '{path}'")
        name, key, nav = match["set"], match["key"], match["nav"]
        if request.method == "POST":
            return await _post(request, name, user)
        if request.method != "GET":
            raise SapFault(405, "/IWBEP/CM_MGW_RT/025", f"Method {request.method} is not allowed on {name}")
        entity_set = ENTITY_SETS.get(name)
        if entity_set is None:
            raise SapFault(404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for segment '{name}'")
        if key is None:
            return JSONResponse(service.query(request, entity_set, service.data[name]))
        row = service.find(entity_set, _literal_key(key))
        if nav is not None:
            if nav not in entity_set.navigation:
                raise SapFault(404, "/IWBEP/CM_MGW_RT/021", f"Navigation property '{nav}' does not exist")
            target_name, foreign = entity_set.navigation[nav]
            related = [r for r in service.data[target_name] if r[foreign] == row[entity_set.key]]
            return JSONResponse(service.query(request, ENTITY_SETS[target_name], related))
        expand = [e.strip() for e in request.query_params.get("$expand", "").split(",") if e.strip()]
        unknown = [e for e in expand if e not in entity_set.navigation]
        if unknown:
            raise SapFault(400, "/IWBEP/CM_MGW_RT/022", f"Invalid $expand: property '{unknown[0]}' does not exist")
        return JSONResponse({"d": service.render(request, entity_set, row, expand=expand)})

    async def _post(request: Request, name: str, user: SapUser) -> Response:
        commit = request.headers.get(TEST_RUN_HEADER, "").upper() != "X"
        if name in ("ReleasePurchaseOrder", "CancelPurchaseOrder"):
            # A function import: parameters travel as literals in the query string.
            order_id = _literal_key(request.query_params.get("PurchaseOrder", "").strip("'"))
            action = service.release if name == "ReleasePurchaseOrder" else service.cancel
            order = action(order_id, user, commit=commit)
            return JSONResponse({"d": service.render(request, ENTITY_SETS["A_PurchaseOrder"], order)})
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SapFault(400, "/IWBEP/CM_MGW_RT/004", "The request body is not a JSON object")
        if name == "A_PurchaseOrder":
            row = service.create_purchase_order(body, user, commit=commit)
        elif name == "A_SupplierInvoice":
            row = service.post_invoice(body, user, commit=commit)
        else:
            raise SapFault(405, "/IWBEP/CM_MGW_RT/025", f"Entity set {name} does not support creation")
        entity_set = ENTITY_SETS[name]
        if not commit:
            return JSONResponse({"d": service.render(request, entity_set, row)}, headers={TEST_RUN_HEADER: "X"})
        return JSONResponse(
            {"d": service.render(request, entity_set, row)},
            status_code=201,
            headers={"location": service.uri(request, entity_set, row)},
        )

    app = stub_app(
        [
            Route(SERVICE_PATH + "/", root, methods=["GET", "HEAD"]),
            Route(SERVICE_PATH, root, methods=["GET", "HEAD"]),
            Route(SERVICE_PATH + "/{path:path}", resource, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )
    app.state.sap = service
    return app


def serve_for(settings: ConnectorSettings) -> AbstractAsyncContextManager[str | None]:
    """For `gateway demo`: this stub where the stanza points, when that is this machine,
    accepting the stanza's own credentials; yields its base URL, or None if not started."""
    options = SapOptions.of(settings)
    auth = options.auth
    if not isinstance(auth, BasicAuth):
        return serve_if_local(options.url, create_app)
    return serve_if_local(
        options.url, lambda: create_app(username=auth.username, password=auth.password.get_secret_value())
    )


def main() -> None:
    parser = stub_arguments("SAP Gateway OData stub (API_PURCHASEORDER_SRV)", 8101)
    parser.add_argument("--username", default="demo")
    args = parser.parse_args()
    run_stub(create_app(username=args.username, password=os.environ.get("SAP_PASSWORD", "demo")), args)


if __name__ == "__main__":
    main()
