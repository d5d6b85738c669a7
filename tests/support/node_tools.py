"""The Node tools some tests drive: Node 22, the official MCP conformance suite, MCP
Inspector and the `oidc-provider` OpenID provider, installed from the npm registry into
`.tools/` (not by hand, not by make).

`python -m tests.support.node_tools` installs them; tests call `node_tools()`, which installs on
first use and skips (or, under GATEWAY_REQUIRE_SERVICES=1, fails) when npm or the
registry cannot be reached.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO / ".tools"
#: Pinned: a new suite version may add scenarios, which is a deliberate upgrade.
PACKAGES = {
    "node": "22.23.3",
    "@modelcontextprotocol/conformance": "0.1.16",
    "@modelcontextprotocol/inspector": "2.12.0",
    #: The certified OpenID provider the identity tests sign in against.
    "oidc-provider": "9.13.3",
}
INSTALL_TIMEOUT_SECONDS = 600


@dataclass(frozen=True, slots=True)
class NodeTools:
    node: Path
    conformance: Path
    inspector: Path
    oidc_provider: Path

    @classmethod
    def at(cls, root: Path) -> NodeTools:
        modules = root / "node_modules"
        return cls(
            node=modules / "node" / "bin" / "node",
            conformance=modules / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
            inspector=modules / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js",
            oidc_provider=modules / "oidc-provider" / "package.json",
        )

    def present(self) -> bool:
        return all(p.exists() for p in (self.node, self.conformance, self.inspector, self.oidc_provider))


class NodeToolsUnavailable(Exception):
    pass


def _installed_versions(root: Path) -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        manifest = root / "node_modules" / name / "package.json"
        if manifest.exists():
            found[name] = json.loads(manifest.read_text())["version"]
    return found


def install(root: Path = TOOLS_DIR) -> NodeTools:
    """The tools under `root`, installed or upgraded to the pinned versions when needed."""
    tools = NodeTools.at(root)
    if tools.present() and _installed_versions(root) == PACKAGES:
        return tools
    npm = shutil.which("npm")
    if npm is None:
        raise NodeToolsUnavailable("npm is not installed (Debian package 'npm', listed in .ci/system-packages.txt)")
    root.mkdir(parents=True, exist_ok=True)
    manifest = {"private": True, "dependencies": PACKAGES}
    (root / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise NodeToolsUnavailable(f"npm install did not finish within {INSTALL_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0 or not tools.present():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise NodeToolsUnavailable(f"npm install failed (exit {done.returncode}): {' | '.join(tail)}")
    return tools


if __name__ == "__main__":
    try:
        installed = install()
    except NodeToolsUnavailable as exc:
        sys.exit(str(exc))
    print(f"node tools ready in {TOOLS_DIR}")
