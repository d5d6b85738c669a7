"""Regenerate configmap-policies.yaml from policies/ (run after editing a policy file):

    .venv/bin/python deploy/k8s/sync_policies.py
"""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
HEADER = """\
# The policies the gateway enforces: a copy of policies/ (tests/test_ops_deploy.py checks they match).
# Regenerate after editing policies/:  .venv/bin/python deploy/k8s/sync_policies.py
# After updating the ConfigMap, reload with POST /v1/admin/policy/reload on each pod (or a rolling
# restart): Kubernetes swaps mounted files through a symlink the file watcher may not notice.
"""


class _Literal(str):
    pass


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


def main() -> None:
    yaml.SafeDumper.add_representer(_Literal, _literal)
    files = {p.name: _Literal(p.read_text()) for p in sorted((REPO / "policies").iterdir()) if p.is_file()}
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "agent-gateway-policies"},
        "data": files,
    }
    text = HEADER + yaml.safe_dump(manifest, sort_keys=False, width=1000)
    (REPO / "deploy" / "k8s" / "configmap-policies.yaml").write_text(text)


if __name__ == "__main__":
    main()
