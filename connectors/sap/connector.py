"""The SAP connector: the six purchasing tools over an SAP Gateway OData V2 service, signed
in as its `auth` section says, with the CSRF-token handshake SAP requires before any
modifying request (one token per SAP user session: per caller under token exchange)."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from cachetools import LRUCache

from connectors.auth import backend_auth, caller_key
from connectors.base import BackendError, CallContext, Health
from connectors.http_backend import Handler, HttpBackend, HttpToolConnector, json_body
from connectors.results import json_result
from connectors.sap.odata import TEST_RUN_HEADER, literal
from connectors.sap.options import SapOptions
from connectors.sap.tools import tool_specs
from gateway.config import ConnectorSettings
from gateway.models import ToolResult

#: CSRF tokens kept, one per SAP session (per caller under token exchange).
CSRF_SESSIONS = 1024


def _key(entity_set: str, value: str) -> str:
    return f"{entity_set}({quote(literal(value), safe='')})"


def _amount(value: float | int) -> str:
    # repr-based: 0.1 stays "0.1", never 0.1000000000000000055511151231257827.
    return format(Decimal(str(value)), "f")


def _plain(value: Any) -> Any:
    """OData V2 JSON without the protocol wrapping: no __metadata, no deferred links, and
    expanded collections as plain lists."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"results"}:
            return _plain(value["results"])
        return {
            k: _plain(v)
            for k, v in value.items()
            if k != "__metadata" and not (isinstance(v, dict) and "__deferred" in v)
        }
    return value


def _sap_message(response: httpx.Response) -> str:
    body = json_body(response)
    try:
        return str(body["error"]["message"]["value"])
    except (TypeError, KeyError):
        return "backend rejected the request"


class SapConnector(HttpToolConnector):
    def __init__(self, settings: ConnectorSettings) -> None:
        options = SapOptions.of(settings)
        self.name = settings.name
        self._http = HttpBackend(
            settings,
            base_url=options.url,
            auth=backend_auth(options.auth, settings.name, settings.timeout_seconds, options.tls),
        )
        self._tools = tool_specs(settings.name, test_run=options.test_run)
        self._csrf_tokens: LRUCache[Hashable, str] = LRUCache(CSRF_SESSIONS)
        self._csrf_lock = asyncio.Lock()
        self._handlers: dict[str, Handler] = {
            "search_purchase_orders": self._search_purchase_orders,
            "get_purchase_order": self._get_purchase_order,
            "search_vendors": self._search_vendors,
            "create_purchase_order": self._create_purchase_order,
            "release_purchase_order": self._release_purchase_order,
            "cancel_purchase_order": self._cancel_purchase_order,
            "post_invoice": self._post_invoice,
        }

    async def health(self) -> Health:
        return await self._http.probe("/")

    # -- protocol ---------------------------------------------------------------------
    async def _read(self, url: str, context: CallContext, params: Mapping[str, Any] | None = None) -> Any:
        response = await self._http.send("GET", url, context, params={**(params or {}), "$format": "json"})
        if response.status_code != 200:
            raise self._http.fail(response, _sap_message(response))
        return _plain(json_body(response)["d"])

    async def _token(self, context: CallContext, stale: str | None) -> str:
        """The session's CSRF token, fetched once and again only when SAP rejected `stale`.
        A token belongs to the SAP user who fetched it: per caller when SAP sees callers."""
        session = caller_key(context) if self._http.acts_for_caller else None
        async with self._csrf_lock:
            token = self._csrf_tokens.get(session)
            if token is None or token == stale:
                response = await self._http.send("GET", "/", context, headers={"x-csrf-token": "Fetch"})
                token = response.headers.get("x-csrf-token")
                if response.status_code != 200:
                    raise self._http.fail(response, _sap_message(response))
                if not token or token.lower() == "required":
                    raise self._http.fail(response, "backend did not issue a CSRF token")
                self._csrf_tokens[session] = token
            return token

    async def _modify(
        self,
        url: str,
        context: CallContext,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        token = await self._token(context, None)
        # A dry run is sent as the service's test run (only tools that declare `simulates`).
        test_run = {TEST_RUN_HEADER: "X"} if context.dry_run else {}
        response = await self._http.send(
            "POST", url, context, params=params, json=body, headers={"x-csrf-token": token, **test_run}
        )
        if response.status_code == 403 and response.headers.get("x-csrf-token", "").lower() == "required":
            # The token expired with its session; SAP rejected the request before doing
            # anything, so sending it once more with a fresh token cannot duplicate it.
            token = await self._token(context, token)
            response = await self._http.send(
                "POST", url, context, params=params, json=body, headers={"x-csrf-token": token, **test_run}
            )
        if response.status_code not in (200, 201):
            raise self._http.fail(response, _sap_message(response))
        if context.dry_run and response.headers.get(TEST_RUN_HEADER, "").upper() != "X":
            raise BackendError("the service did not confirm the test run: check whether it stored the change")
        return _plain(json_body(response)["d"])

    # -- tools ------------------------------------------------------------------------
    async def _search(
        self,
        entity_set: str,
        filters: list[str],
        arguments: Mapping[str, Any],
        context: CallContext,
        orderby: str | None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "$top": arguments.get("top", 20),
            "$skip": arguments.get("skip", 0),
            "$inlinecount": "allpages",
        }
        if filters:
            params["$filter"] = " and ".join(filters)
        if orderby:
            params["$orderby"] = orderby
        data = await self._read(entity_set, context, params)
        results = data["results"]
        return {
            "results": results,
            "total": int(data.get("__count", len(results))),
            "top": params["$top"],
            "skip": params["$skip"],
        }

    async def _search_purchase_orders(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        filters = []
        if "vendor_id" in a:
            filters.append(f"Supplier eq {literal(a['vendor_id'])}")
        if "status" in a:
            filters.append(f"ReleaseStatus eq {literal(a['status'])}")
        if "currency" in a:
            filters.append(f"DocumentCurrency eq {literal(a['currency'])}")
        if "min_amount" in a:
            filters.append(f"NetAmount ge {literal(a['min_amount'])}")
        if "max_amount" in a:
            filters.append(f"NetAmount le {literal(a['max_amount'])}")
        if "description_contains" in a:
            filters.append(f"substringof({literal(a['description_contains'])}, Description)")
        orderby = f"{a.get('order_by', 'PurchaseOrder')} {'desc' if a.get('descending') else 'asc'}"
        found = await self._search("A_PurchaseOrder", filters, a, context, orderby)
        return json_result({"purchase_orders": found.pop("results"), **found})

    async def _get_purchase_order(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        order = await self._read(
            _key("A_PurchaseOrder", a["purchase_order_id"]),
            context,
            {"$expand": "to_PurchaseOrderItem,to_SupplierInvoice"},
        )
        order["items"] = order.pop("to_PurchaseOrderItem", [])
        order["invoices"] = order.pop("to_SupplierInvoice", [])
        return json_result({"purchase_order": order})

    async def _search_vendors(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        filters = []
        if "name_contains" in a:
            filters.append(f"substringof({literal(a['name_contains'])}, SupplierName)")
        if "country" in a:
            filters.append(f"Country eq {literal(a['country'])}")
        found = await self._search("A_Supplier", filters, a, context, "Supplier asc")
        return json_result({"vendors": found.pop("results"), **found})

    async def _create_purchase_order(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        order = await self._modify(
            "A_PurchaseOrder",
            context,
            body={
                "Supplier": a["vendor_id"],
                "NetAmount": _amount(a["amount"]),
                "DocumentCurrency": a["currency"],
                "Description": a["description"],
            },
        )
        return json_result({"purchase_order": order})

    async def _release_purchase_order(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        order = await self._modify(
            "ReleasePurchaseOrder", context, params={"PurchaseOrder": literal(a["purchase_order_id"])}
        )
        return json_result({"purchase_order": order})

    async def _cancel_purchase_order(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        order = await self._modify(
            "CancelPurchaseOrder", context, params={"PurchaseOrder": literal(a["purchase_order_id"])}
        )
        return json_result({"purchase_order": order})

    async def _post_invoice(self, a: Mapping[str, Any], context: CallContext) -> ToolResult:
        invoice = await self._modify(
            "A_SupplierInvoice",
            context,
            body={
                "PurchaseOrder": a["purchase_order_id"],
                "InvoiceAmount": _amount(a["amount"]),
                "DocumentCurrency": a["currency"],
            },
        )
        return json_result({"invoice": invoice})
