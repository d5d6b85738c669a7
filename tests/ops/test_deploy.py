"""deploy/: no container engine runs here, so the files are checked for what would break a
deploy: the Dockerfile's rules (slim, non-root, health check, every COPY source exists and
is in the build context), compose references (files, services, stub ports), the
Kubernetes manifests against the Kubernetes JSON schemas (offline, strict), and the
gateway configs they ship actually load."""

from __future__ import annotations

import fnmatch
import importlib
import re
import runpy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from connectors.base import create_connector
from gateway.config import parse_config
from tests.support.ops import REPO, rendered_kustomization, secret_template

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
#: The oldest Kubernetes we document support for, and the newest the schemas know.
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
SECRETS = {
    "IDENTITY_SECRET": "x" * 40,
    "AUDIT_DATABASE_URL": "postgresql://gateway:pw@postgres:5432/gateway",
    "REDIS_URL": "redis://redis:6379/0",
    "SAP_PASSWORD": "p",
    "ORDS_CLIENT_SECRET": "s",
    "MAINFRAME_PASSWORD": "m",
}


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*"):
            ignored = not negate
    return ignored


def test_dockerfile_is_slim_non_root_with_a_health_check() -> None:
    steps = _instructions(DEPLOY / "Dockerfile")
    bases = [args for op, args in steps if op == "FROM"]
    assert bases and all(re.match(r"python:3\.1[1-9]-slim\b", base) for base in bases), bases
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    healthchecks = [args for op, args in steps if op == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "/healthz" in healthchecks[0] and " CMD " in f" {healthchecks[0]}"
    server = parse_config(yaml.safe_load((DEPLOY / "gateway.yaml").read_text()), base_dir=REPO, environ=SECRETS)
    assert [args for op, args in steps if op == "EXPOSE"] == [str(server.server.port)]
    assert steps[-1][0] == "CMD" and "serve" in steps[-1][1]

    ignore = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for op, args in steps:
        if op != "COPY" or args.startswith("--from"):
            continue
        *sources, _target = args.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the build context"
            assert not _dockerignored(source, ignore), f"COPY {source}: excluded by Dockerfile.dockerignore"
    assert _dockerignored("tests", ignore) and _dockerignored(".venv", ignore)


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_has_the_stack_and_references_files_that_exist() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {
        "gateway",
        "sap-stub",
        "oracle-stub",
        "mainframe-stub",
        "postgres",
        "redis",
        "prometheus",
        "grafana",
    }
    for name, service in services.items():
        assert "image" in service, name
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"]).is_dir()
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: volume source {source} does not exist"
            else:
                assert source in compose["volumes"], f"{name}: undeclared named volume {source}"
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services), name


def test_compose_gateway_config_loads_and_points_at_the_compose_stubs(monkeypatch: pytest.MonkeyPatch) -> None:
    services = _compose()["services"]
    # Exactly the gateway container's environment satisfies every reference of its config.
    environ = services["gateway"]["environment"]
    config = parse_config(yaml.safe_load((DEPLOY / "gateway.yaml").read_text()), base_dir=REPO, environ=environ)
    assert config.audit.database.startswith("postgresql://gateway:gateway@postgres:5432/")
    # Replicas share rate-limit buckets through the compose Redis, started before the gateway.
    assert config.limits.redis_url is not None and urlsplit(config.limits.redis_url).hostname == "redis"
    assert "redis" in services and services["gateway"]["depends_on"]["redis"]["condition"] == "service_healthy"
    for name, value in environ.items():
        monkeypatch.setenv(name, str(value))
    for settings in config.connectors:
        create_connector(settings)  # options are checked without I/O
        options = settings.options
        if "url" in options:
            host, port = urlsplit(options["url"]).hostname, urlsplit(options["url"]).port
        else:
            host, port = options["host"], options["port"]
        stub = services[host]
        command = stub["command"]
        module = command[command.index("-m") + 1]
        assert module == f"connectors.{settings.kind}.stub"
        importlib.import_module(module)
        assert int(command[command.index("--port") + 1]) == port
        assert command[command.index("--host") + 1] == "0.0.0.0"
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    # Prometheus scrapes the metrics listener; the agents' port serves no /metrics.
    assert config.server.metrics_port not in (None, config.server.port)
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == [f"gateway:{config.server.metrics_port}"]
    assert all(str(config.server.metrics_port) not in p for p in services["gateway"].get("ports", []))


def test_applying_the_kustomization_never_replaces_the_secret() -> None:
    assert not [key for key in rendered_kustomization() if key[0] == "Secret"]
    assert secret_template()["metadata"]["name"] == "agent-gateway"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    for (kind, name), doc in [*rendered_kustomization().items(), (("Secret", "template"), secret_template())]:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kind}/{name} is invalid for Kubernetes {version}: {exc.message} at {list(exc.path)}")


def test_a_wrong_manifest_is_refused_offline() -> None:
    # The check above can fail: a misspelt field and a wrong type are both refused.
    deployment = rendered_kustomization()["Deployment", "agent-gateway"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)
    misspelt = {**container, "livenesProbe": container["livenessProbe"]}
    template = {**deployment["spec"]["template"], "spec": {"containers": [misspelt]}}
    broken = {**deployment, "spec": {**deployment["spec"], "template": template}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_deployment_is_replicated_probed_limited_and_wired_to_its_config() -> None:
    manifests = rendered_kustomization()
    deployment = manifests["Deployment", "agent-gateway"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] >= 2
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()

    service = manifests["Service", "agent-gateway"]
    assert service["spec"]["selector"].items() <= labels.items()
    pdb = manifests["PodDisruptionBudget", "agent-gateway"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] < spec["replicas"]

    secret = secret_template()
    environ = {}
    for env in container["env"]:
        ref = env["valueFrom"]["secretKeyRef"]
        assert ref["key"] in secret["stringData"], ref
        environ[env["name"]] = secret["stringData"][ref["key"]]
    for volume in pod["volumes"]:
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in manifests
        if "secret" in volume:
            assert volume["secret"]["secretName"] == "agent-gateway"
            assert {i["key"] for i in volume["secret"]["items"]} <= secret["stringData"].keys()

    # The mounted config loads, and names the mounted policies and key.
    raw = yaml.safe_load(manifests["ConfigMap", "agent-gateway-config"]["data"]["gateway.yaml"])
    # ... with exactly the variables the pod gets: every secret reference is satisfied.
    config = parse_config(raw, base_dir=REPO, environ=environ)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert config.policy.directory == mounts["policies"]
    assert config.audit.signing_key_file is not None
    assert config.audit.signing_key_file.startswith(mounts["keys"] + "/")
    assert container["args"][-1] == mounts["config"]
    assert container["ports"][0]["containerPort"] == config.server.port
    # Prometheus finds the metrics listener; the Service (and an Ingress on it) never exposes it.
    metrics_port = config.server.metrics_port
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(metrics_port) != str(config.server.port)
    assert {p["containerPort"] for p in container["ports"]} == {config.server.port, metrics_port}
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    [rule] = manifests["Ingress", "agent-gateway"]["spec"]["rules"]
    backends = [path["backend"]["service"] for path in rule["http"]["paths"]]
    assert backends == [{"name": "agent-gateway", "port": {"name": "http"}}]


def test_policy_configmap_matches_the_shipped_policies() -> None:
    data = rendered_kustomization()["ConfigMap", "agent-gateway-policies"]["data"]
    shipped = {p.name: p.read_text() for p in (REPO / "policies").iterdir() if p.is_file()}
    assert data == shipped, "policies/ changed: run python deploy/k8s/render_policies.py"
    render = runpy.run_path(str(K8S / "render_policies.py"))["render"]
    assert (K8S / "configmap-policies.yaml").read_text() == render()
