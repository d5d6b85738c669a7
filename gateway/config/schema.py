"""The JSON Schema of the whole config file, for editors (completion, hover text, checks
while typing). Connector stanzas are described per kind, chosen by their `kind`."""

from __future__ import annotations

from typing import Any

from gateway.config.model import GatewayConfig
from gateway.config.sections import CONNECTOR_NAME

_DEFS = "#/$defs/{model}"


def config_schema() -> dict[str, Any]:
    # Imported here: connector kinds import this package for ConnectorSettings.
    from connectors.options import known_kinds, stanza_model

    schema = GatewayConfig.model_json_schema(ref_template=_DEFS)
    definitions = schema.setdefault("$defs", {})
    del definitions["ConnectorSettings"]  # the file describes connectors per kind, below
    stanzas = []
    for kind in known_kinds():
        model = stanza_model(kind)
        if model is None:
            continue
        stanza = model.model_json_schema(ref_template=_DEFS)
        definitions.update(stanza.pop("$defs", {}))
        definitions[model.__name__] = stanza
        stanzas.append({"$ref": _DEFS.format(model=model.__name__)})
    schema["properties"]["connectors"] = {
        "type": "object",
        "description": GatewayConfig.model_fields["connectors"].description,
        "propertyNames": {"pattern": CONNECTOR_NAME},
        "additionalProperties": {"anyOf": stanzas},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "Agent gateway configuration",
    }
