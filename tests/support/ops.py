"""Shared by the ops tests: reading /metrics, running promtool and a real Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.identity.collector import IssuerCollector
from gateway.identity.issuers import IssuerRegistry
from gateway.metrics import Metrics
from gateway.serving import free_port
from tests.support.gateway import require_service

REPO = Path(__file__).resolve().parents[2]


def require_binary(name: str) -> str:
    """The path of a Debian-packaged tool (see .ci/system-packages.txt), or skip/fail."""
    path = shutil.which(name)
    require_service(f"{name} (Debian package prometheus)", path is not None)
    assert path is not None
    return path


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition (None: absent)."""
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


async def run_tool(*argv: str, stdin: bytes | None = None, cwd: Path | None = None) -> tuple[int, str]:
    """Run a command without blocking the loop (a gateway in this loop may be serving)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode()


@contextlib.asynccontextmanager
async def prometheus(
    tmp_path: Path, target: str, scrape_interval: str = "1s", token: str | None = None
) -> AsyncIterator[str]:
    """A real Prometheus scraping `target` (host:port) on loopback, with the scrape token
    from a file when given (as deploy/prometheus does); yields its base URL."""
    binary = require_binary("prometheus")
    config = tmp_path / "prometheus.yml"
    job: dict[str, object] = {"job_name": "gateway", "static_configs": [{"targets": [target]}]}
    if token is not None:
        (tmp_path / "scrape-token").write_text(token)
        job["authorization"] = {"type": "Bearer", "credentials_file": str(tmp_path / "scrape-token")}
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
                "scrape_configs": [job],
            }
        )
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{url}/-/ready")).status_code == 200:
                        break
                if process.returncode is not None:
                    raise AssertionError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()[-2000:]}")
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("prometheus did not become ready within 10 s")
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def query(url: str, promql: str) -> list[dict]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/api/v1/query", params={"query": promql})
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


#: Sample-name suffixes each metric type exposes (prometheus_client families drop them).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created", ""),
}


def exposed_names() -> set[str]:
    """Every sample name a gateway's /metrics can carry (labelled series included)."""
    families = [*Metrics().registry.collect(), *IssuerCollector(IssuerRegistry([])).describe()]
    return {family.name + suffix for family in families for suffix in _SUFFIXES[family.type]} | {"up"}


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "increase", "irate", "histogram_quantile", "absent",
    "by", "without", "on", "ignoring", "group_left", "group_right", "or", "and", "unless", "bool",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label names inside {...} excluded)."""
    text = _RANGE.sub("", _STRING.sub('""', expr))
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", text)
    return {word for word in _IDENT.findall(text) if word not in _PROMQL_WORDS}


K8S = REPO / "deploy" / "k8s"


def rendered_kustomization() -> dict[tuple[str, str], dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` applies: the kustomization's resources with its
    `labels` added (the only transformer it uses; kustomize itself is not installed here)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization) == {"apiVersion", "kind", "labels", "resources"}
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name not in ("kustomization.yaml", "secret.yaml"))
    assert sorted(kustomization["resources"]) == files
    found = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            for label in kustomization["labels"]:
                assert not label.get("includeSelectors")
                doc["metadata"]["labels"] = {**doc["metadata"].get("labels", {}), **label["pairs"]}
            found[doc["kind"], doc["metadata"]["name"]] = doc
    return found


def secret_template() -> dict[str, Any]:
    return yaml.safe_load((K8S / "secret.yaml").read_text())
