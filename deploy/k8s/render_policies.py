"""Write configmap-policies.yaml from policies/: run `python deploy/k8s/render_policies.py`
after editing any policy file (tests/test_ops_deploy.py fails until the two match)."""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
POLICIES = HERE.parent.parent / "policies"
TARGET = HERE / "configmap-policies.yaml"

HEADER = """\
# The policies the gateway enforces: a copy of policies/, written by render_policies.py
# (python deploy/k8s/render_policies.py after editing policies/; the tests check they match).
# After updating the ConfigMap, reload with POST /v1/admin/policy/reload on each pod (or a rolling
# restart): Kubernetes swaps mounted files through a symlink the file watcher may not notice.
"""


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the policy files stay readable in the manifest."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockDumper.add_representer(str, _string)


def render() -> str:
    data = {p.name: p.read_text() for p in sorted(POLICIES.iterdir()) if p.is_file()}
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "agent-gateway-policies"}, "data": data}
    return HEADER + yaml.dump(manifest, Dumper=_BlockDumper, sort_keys=False, width=1000)


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
