"""Post-deploy health gate: fails loudly unless the platform is really up.

    python -m ops.health_gate --stack prod [--timeout 900]

Checks, until they hold or the timeout passes:
  1. every Argo CD Application of the stack's environment (the root and its children) is
     Synced and Healthy (`kubectl get applications.argoproj.io -o json`);
  2. every tool URL in the stack outputs (`*_url`) answers over HTTPS with a status below 500,
     with the certificate verified.
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


def url_problems(outputs: Mapping[str, Any], fetch: Callable[[str], int]) -> list[str]:
    """Problems of the `*_url` stack outputs; `fetch(url)` returns the HTTP status or raises."""
    problems = []
    for key in sorted(k for k in outputs if k.endswith("_url")):
        url = outputs[key]
        try:
            status = fetch(url)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding, reported by name
            problems.append(f"{key} {url}: {type(exc).__name__}: {exc}")
            continue
        if status >= 500:
            problems.append(f"{key} {url}: HTTP {status}")
    return problems


def http_status(url: str, timeout: float = 10.0) -> int:
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "plate-health-gate"})
    try:
        context = ssl.create_default_context()
        with urllib.request.urlopen(request, timeout=timeout, context=context) as r:
            return r.status
    except urllib.error.HTTPError as exc:  # 401/403 from a login page still means "up"
        return exc.code


def _json_of(command: list[str]) -> Any:
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for health")
    parser.add_argument("--interval", type=int, default=20)
    args = parser.parse_args(argv)

    outputs = _json_of(["pulumi", "stack", "output", "--json", "--stack", args.stack])
    environment = outputs["environment"]
    namespace = outputs.get("argocd_namespace", "argocd")
    deadline = time.monotonic() + args.timeout
    while True:
        apps = _json_of(
            ["kubectl", "get", "applications.argoproj.io", "-n", namespace, "-o", "json"]
        )
        problems = application_problems(apps, environment) + url_problems(outputs, http_status)
        if not problems:
            print(
                f"healthy: every Application of {environment} is Synced/Healthy, "
                "every URL answers"
            )
            return 0
        if time.monotonic() >= deadline:
            print(f"UNHEALTHY after {args.timeout}s:", *problems, sep="\n  ", file=sys.stderr)
            return 1
        print(f"waiting ({len(problems)} problems): {problems[0]}")
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
