"""The Oracle connector's tools and their JSON Schemas."""

from __future__ import annotations

from connectors.oracle.sql_guard import MAX_LENGTH
from connectors.schemas import arguments_schema
from gateway.models import ToolSpec

ID = {"type": "integer", "minimum": 1, "maximum": 999_999_999}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 100, "default": 25}
OFFSET = {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0}
SCALAR = {"type": ["string", "number", "boolean", "null"]}


def tool_specs(connector: str) -> list[ToolSpec]:
    return [
        ToolSpec(
            connector,
            "get_employee",
            "Read one employee of the HR schema.",
            arguments_schema({"employee_id": ID}, ("employee_id",)),
            read_only=True,
            title="Get employee",
        ),
        ToolSpec(
            connector,
            "search_employees",
            "Search employees by department, job, salary range and name.",
            arguments_schema(
                {
                    "department_id": ID,
                    "job_id": {"type": "string", "pattern": "^[A-Z_]{2,10}$"},
                    "min_salary": {"type": "integer", "minimum": 0},
                    "max_salary": {"type": "integer", "minimum": 0},
                    "last_name_contains": {"type": "string", "minLength": 1, "maxLength": 60},
                    "limit": LIMIT,
                    "offset": OFFSET,
                }
            ),
            read_only=True,
            title="Search employees",
        ),
        ToolSpec(
            connector,
            "get_order",
            "Read one customer order.",
            arguments_schema({"order_id": ID}, ("order_id",)),
            read_only=True,
            title="Get order",
        ),
        ToolSpec(
            connector,
            "search_orders",
            "Search orders by customer, status, date and total.",
            arguments_schema(
                {
                    "customer_id": ID,
                    "status": {"enum": ["PENDING", "SHIPPED", "CANCELLED"]},
                    "since": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "YYYY-MM-DD"},
                    "min_total": {"type": "number", "minimum": 0, "multipleOf": 0.01},
                    "limit": LIMIT,
                    "offset": OFFSET,
                }
            ),
            read_only=True,
            title="Search orders",
        ),
        ToolSpec(
            connector,
            "update_salary",
            "Set an employee's salary; it must lie within the range of the employee's job.",
            arguments_schema(
                {
                    "employee_id": ID,
                    "salary": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
                    "reason": {"type": "string", "maxLength": 200},
                },
                ("employee_id", "salary"),
            ),
            title="Update salary",
        ),
        ToolSpec(
            connector,
            "query",
            "Run one read-only SELECT. Values go in `params` and are referenced as :name binds; "
            "string literals, comments, several statements and anything that writes are refused.",
            arguments_schema(
                {
                    "sql": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH},
                    "params": {
                        "type": "object",
                        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,29}$"},
                        "additionalProperties": SCALAR,
                        "default": {},
                    },
                    "max_rows": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                },
                ("sql",),
            ),
            read_only=True,
            title="Read-only SQL query",
        ),
    ]
