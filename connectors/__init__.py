"""Backends the gateway can forward calls to.

Each kind is a module or package `connectors.<kind>` exposing
`create(settings: gateway.config.ConnectorSettings) -> Connector`; the config file names the
kind in each connector stanza. See `connectors.base` for the interface.
"""
