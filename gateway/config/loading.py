"""Reading the config: the YAML file, the environment over it, validation that reports
every problem at once (each naming its key), and secret references resolved."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from gateway.config.connectors import connector_settings
from gateway.config.model import GatewayConfig
from gateway.config.problems import ConfigError, problems
from gateway.config.secrets import EnvironmentValue, SecretSources


class _Environment(EnvSettingsSource):
    """`GATEWAY_<SECTION>__<KEY>[__<KEY>...]` variables as nested keys, read from the given
    mapping rather than only the process environment (tests and `config check` pass one)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        # The source only reads the model's fields; GatewayConfig stays a plain model
        # because BaseSettings validation drops the context secret references need.
        model = cast(type[BaseSettings], GatewayConfig)
        super().__init__(model, case_sensitive=False, env_prefix="GATEWAY_", env_nested_delimiter="__")

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def _scalars(value: Any) -> Any:
    """Environment values read as YAML scalars ("9000" is 9000, "false" is False, text stays
    text), exactly as the same value would read in the file."""
    if isinstance(value, dict):
        return {k: _scalars(v) for k, v in value.items()}
    if isinstance(value, str) and value:
        with contextlib.suppress(yaml.YAMLError):
            value = yaml.safe_load(value)
    return EnvironmentValue(value) if isinstance(value, str) else value


def _merged(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in over.items()}}
    return over


def _frozen(value: Any) -> Any:
    """Lists become tuples: the settings are immutable, and strict validation wants tuples."""
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def parse_config(raw: Any, *, base_dir: Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Validate a parsed file (plus the environment's overrides); ConfigError lists every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"(top level): expected a mapping of sections, got {type(raw).__name__}")
    environ = os.environ if environ is None else environ
    data = _frozen(_merged(raw, _scalars(_Environment(environ)())))
    sources = SecretSources(environ=environ, base_dir=base_dir, allow_inline=data.get("allow_inline_secrets") is True)
    connectors, errors = connector_settings(data.pop("connectors", None), sources)
    try:
        config = GatewayConfig.model_validate(data, strict=True, context=sources)
    except ValidationError as exc:
        errors[:0] = problems(exc, GatewayConfig)
    else:
        shown = config.frontdoors.unprefixed_connector
        if shown not in (None, *(c.name for c in connectors)):
            errors.append(f"frontdoors.unprefixed_connector: no connector named {shown!r}")
    if errors:
        raise ConfigError(errors)
    config = config.model_copy(update={"connectors": connectors})
    config._base_dir = base_dir
    return config


def read_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not valid UTF-8") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    path = Path(path)
    return parse_config(read_file(path), base_dir=path.resolve().parent, environ=environ)
