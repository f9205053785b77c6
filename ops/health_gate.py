"""Post-deploy health gate: fails loudly unless the platform is really up.

    python -m ops.health_gate --stack prod [--timeout 900]

Checks, until they hold or the timeout passes (kubectl runs against the stack's kube_context):
  1. every Argo CD Application of the stack's environment (the root and its children) is
     Synced and Healthy (`kubectl get applications.argoproj.io -o json`);
  2. every ExternalSecret in plate-<env> is Ready: OpenBao answered and the Secret exists;
  3. each tool answers its own health endpoint over HTTPS with 200, the certificate verified:
     Argo CD `/healthz`, Harbor `/api/v2.0/health` (every component "healthy"), Grafana
     `/api/health`, OpenBao `/v1/sys/health` (initialised and unsealed; 501/503 otherwise).
Exit status 0 when healthy, 1 with the list of problems otherwise.
"""

from __future__ import annotations

import argparse
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

# stack output -> the tool's health endpoint (relative to the URL) and what it must say
HEALTH_ENDPOINTS = {
    "argocd_url": "/healthz",
    "grafana_url": "/api/health",
    "harbor_url": "/api/v2.0/health",
    # standbyok: an unsealed standby is healthy too (the ingress may reach one)
    "openbao_url": "/v1/sys/health?standbyok=true",
}
OPENBAO_STATES = {501: "not initialised", 503: "sealed"}


def application_problems(apps: Mapping[str, Any], environment: str) -> list[str]:
    """Problems of the Applications of `environment` in a `kubectl get -o json` list."""
    mine = [
        item
        for item in apps.get("items", [])
        if item["metadata"]["name"].startswith("plate-")
        and item["metadata"]["name"].endswith((f"-{environment}", f"-{environment}-apps"))
    ]
    if not mine:
        return [f"no Argo CD Applications found for environment {environment!r}"]
    problems = []
    for item in sorted(mine, key=lambda i: i["metadata"]["name"]):
        status = item.get("status") or {}
        sync = (status.get("sync") or {}).get("status", "Unknown")
        health = (status.get("health") or {}).get("status", "Unknown")
        if sync != "Synced" or health != "Healthy":
            problems.append(f"Application {item['metadata']['name']}: sync={sync} health={health}")
    return problems


def endpoint_problems(
    outputs: Mapping[str, Any], fetch: Callable[[str], tuple[int, str]]
) -> list[str]:
    """Problems of the tools' health endpoints; `fetch(url)` returns (status, body) or raises."""
    problems = []
    for key, path in HEALTH_ENDPOINTS.items():
        if key not in outputs:
            continue
        url = outputs[key].rstrip("/") + path
        try:
            status, body = fetch(url)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding, reported by name
            problems.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        if status != 200:
            state = OPENBAO_STATES.get(status, "") if key == "openbao_url" else ""
            problems.append(f"{url}: HTTP {status}" + (f" ({state})" if state else ""))
        elif key == "harbor_url":
            problems += _harbor_components(url, body)
    return problems


def _harbor_components(url: str, body: str) -> list[str]:
    try:
        health = json.loads(body)
    except ValueError:
        return [f"{url}: not a health report"]
    unhealthy = sorted(
        c.get("name", "?") for c in health.get("components", []) if c.get("status") != "healthy"
    )
    if health.get("status") == "healthy" and not unhealthy:
        return []
    return [f"{url}: {health.get('status', 'unknown')}, unhealthy: {', '.join(unhealthy) or '-'}"]


def external_secret_problems(secrets: Mapping[str, Any]) -> list[str]:
    """ExternalSecrets (a `kubectl get -o json` list) that are not Ready, with the reason."""
    problems = []
    for item in sorted(secrets.get("items", []), key=lambda i: i["metadata"]["name"]):
        conditions = (item.get("status") or {}).get("conditions") or []
        ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
        if ready.get("status") != "True":
            name = f"{item['metadata'].get('namespace', '')}/{item['metadata']['name']}"
            why = ready.get("message") or ready.get("reason") or "no Ready condition yet"
            problems.append(f"ExternalSecret {name}: not Ready ({why})")
    return problems


def http_get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "plate-health-gate"})
    context = ssl.create_default_context()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as r:
            return r.status, r.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _json_of(command: list[str], timeout: float = 60.0) -> Any:
    result = subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)
    return json.loads(result.stdout)


def _kubectl(context: str | None, *args: str) -> list[str]:
    return ["kubectl", *(["--context", context] if context else []), *args]


def check(outputs: Mapping[str, Any]) -> list[str]:
    """One round of every check."""
    environment = outputs["environment"]
    context = outputs.get("kube_context")
    namespace = outputs.get("argocd_namespace", "argocd")
    apps = _json_of(_kubectl(context, "get", "applications.argoproj.io", "-n", namespace,
                             "-o", "json"))
    secrets = _json_of(_kubectl(context, "get", "externalsecrets.external-secrets.io",
                                "-n", outputs.get("apps_namespace", f"plate-{environment}"),
                                "-o", "json"))
    return (application_problems(apps, environment) + external_secret_problems(secrets)
            + endpoint_problems(outputs, http_get))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for health")
    parser.add_argument("--interval", type=int, default=20)
    args = parser.parse_args(argv)

    outputs = _json_of(["pulumi", "stack", "output", "--json", "--stack", args.stack])
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            problems = check(outputs)
        except (subprocess.SubprocessError, OSError, ValueError) as exc:
            problems = [f"kubectl: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"]
        if not problems:
            print(f"healthy: {outputs['environment']}: Applications, ExternalSecrets and tools")
            return 0
        if time.monotonic() >= deadline:
            print(f"UNHEALTHY after {args.timeout}s:", *problems, sep="\n  ", file=sys.stderr)
            return 1
        print(f"waiting ({len(problems)} problems): {problems[0]}")
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
