"""The REST front door for agents that do not speak MCP: JSON over HTTP, an OpenAPI
document per caller, RFC 9457 errors, safe retries."""

from gateway.rest.routes import RestFrontDoor, rest_routes

__all__ = ["RestFrontDoor", "rest_routes"]
