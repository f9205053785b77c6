"""Post-deploy health gate: fails loudly unless the platform is really up.

    python -m ops.health_gate --stack prod [--timeout 900] [--revision SHA] [--ca-bundle FILE]

Checks, until they hold or the timeout passes (kubectl runs against the stack's kube_context):
  1. every Argo CD Application of the stack's environment (the root and its children) is
     Synced and Healthy (`kubectl get applications.argoproj.io -o json`) at the deployed commit:
     `status.sync.revision` (or, multi-source, one of `status.sync.revisions`) is `--revision`,
     by default `git rev-parse HEAD`, so the previous revision's status right after `up` does
     not pass;
  2. every ExternalSecret in plate-<env> is Ready: OpenBao answered and the Secret exists;
  3. each tool answers its own health endpoint over HTTPS with 200, the certificate verified
     against the system store plus `--ca-bundle` / $PLATE_CA_BUNDLE when given:
     Argo CD `/healthz`, Harbor `/api/v2.0/health` (every component "healthy"), Grafana
     `/api/health`, OpenBao `/v1/sys/health` (initialised and unsealed; 501/503 otherwise).
Every subprocess and HTTP call has a timeout and every problem is one line (a failing command
shows the command, its exit code and its last stderr line; an endpoint its URL and the status or
error). Exit status 0 when healthy, 1 with the list of problems otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
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

HTTP_TIMEOUT = 10.0  # seconds per health endpoint request
KUBECTL_TIMEOUT = 60.0
PULUMI_TIMEOUT = 120.0
GIT_TIMEOUT = 10.0
MAX_LINE = 300  # characters of one problem line taken from a foreign message
COMMIT = re.compile(r"[0-9a-f]{7,40}")


class CommandError(Exception):
    """A command failed, timed out, was missing or printed no JSON; the message is one line."""


def one_line(text: object) -> str:
    """The first non-empty line of `text`, at most MAX_LINE characters."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= MAX_LINE else first[: MAX_LINE - 3] + "..."


def short(revision: str) -> str:
    return revision[:7]


def revision_matches(reported: str, expected: str) -> bool:
    """`reported` (a full SHA from Argo CD) is `expected` (a full or abbreviated SHA)."""
    reported, expected = reported.lower(), expected.lower()
    return reported == expected or (len(expected) >= 7 and reported.startswith(expected))


def revision_problem(name: str, status: Mapping[str, Any], revision: str) -> str | None:
    """A line when the Application `name` (its `status`) is not synced to `revision`."""
    sync = status.get("sync") or {}
    reported = [r for r in [sync.get("revision"), *(sync.get("revisions") or [])] if r]
    if any(revision_matches(r, revision) for r in reported):
        return None
    synced_to = ",".join(short(r) for r in reported) or "(none)"
    return f"Application {name}: synced to {synced_to} not {short(revision)}"


def application_problems(
    apps: Mapping[str, Any], environment: str, revision: str | None = None
) -> list[str]:
    """Problems of the Applications of `environment` in a `kubectl get -o json` list.

    With `revision`, every Application must also report it as its synced revision.
    """
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
        name = item["metadata"]["name"]
        status = item.get("status") or {}
        sync = (status.get("sync") or {}).get("status", "Unknown")
        health = (status.get("health") or {}).get("status", "Unknown")
        if sync != "Synced" or health != "Healthy":
            problems.append(f"Application {name}: sync={sync} health={health}")
        if revision is not None:
            problem = revision_problem(name, status, revision)
            if problem:
                problems.append(problem)
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
        except Exception as exc:  # every failure is a finding, reported by name
            problems.append(f"{url}: {_describe(exc)}")
            continue
        if status != 200:
            state = OPENBAO_STATES.get(status, "") if key == "openbao_url" else ""
            problems.append(f"{url}: HTTP {status}" + (f" ({state})" if state else ""))
        elif key == "harbor_url":
            problems += _harbor_components(url, body)
    return problems


def _describe(exc: BaseException) -> str:
    """`Type: message` on one line; a URLError is described by its reason (timeout, TLS...)."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        if isinstance(reason, BaseException):
            return _describe(reason)
        return f"URLError: {one_line(reason)}"
    message = one_line(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _harbor_components(url: str, body: str) -> list[str]:
    try:
        health = json.loads(body)
    except ValueError:
        return [f"{url}: not a health report"]
    if not isinstance(health, dict):
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
            problems.append(f"ExternalSecret {name}: not Ready ({one_line(why)})")
    return problems


def ssl_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """The system trust store, plus the PEM certificates in `ca_bundle` when given."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def http_get(
    url: str, timeout: float = HTTP_TIMEOUT, context: ssl.SSLContext | None = None
) -> tuple[int, str]:
    """(status, body) of a GET of `url`; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "plate-health-gate"})
    try:
        with urllib.request.urlopen(
            request, timeout=timeout, context=context or ssl_context()
        ) as r:
            return r.status, r.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, ""


def run(command: list[str], timeout: float) -> str:
    """The stdout of `command`; CommandError (one line) when it fails, hangs or is missing."""
    shown = shlex.join(command)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CommandError(f"{shown}: timed out after {timeout:g}s") from None
    except OSError as exc:
        raise CommandError(f"{shown}: {_describe(exc)}") from None
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        last = lines[-1][:MAX_LINE] if lines else "(no stderr)"
        raise CommandError(f"{shown}: exit {result.returncode}: {last}")
    return result.stdout


def _json_of(command: list[str], timeout: float = KUBECTL_TIMEOUT) -> Any:
    stdout = run(command, timeout)
    try:
        return json.loads(stdout)
    except ValueError as exc:
        raise CommandError(f"{shlex.join(command)}: output is not JSON ({exc})") from None


def _kubectl(context: str | None, *args: str) -> list[str]:
    return ["kubectl", *(["--context", context] if context else []), *args]


def check(
    outputs: Mapping[str, Any],
    revision: str | None = None,
    fetch: Callable[[str], tuple[int, str]] = http_get,
) -> list[str]:
    """One round of every check; a kubectl failure is a problem of the round, not an error."""
    environment = outputs["environment"]
    context = outputs.get("kube_context")
    namespace = outputs.get("argocd_namespace", "argocd")
    problems: list[str] = []
    try:
        apps = _json_of(_kubectl(context, "get", "applications.argoproj.io", "-n", namespace,
                                 "-o", "json"))
        problems += application_problems(apps, environment, revision)
    except CommandError as exc:
        problems.append(str(exc))
    try:
        secrets = _json_of(_kubectl(context, "get", "externalsecrets.external-secrets.io",
                                    "-n", outputs.get("apps_namespace", f"plate-{environment}"),
                                    "-o", "json"))
        problems += external_secret_problems(secrets)
    except CommandError as exc:
        problems.append(str(exc))
    return problems + endpoint_problems(outputs, fetch)


def wait_until_healthy(
    check: Callable[[], list[str]],
    timeout: float,
    interval: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Run `check` until it finds no problems ([]) or `timeout` passes (its last problems).

    An exception of `check` is a one-line problem of that round. Between rounds it sleeps
    `interval`, never past the deadline, and tells `on_wait` the problems it waits on.
    """
    deadline = clock() + timeout
    while True:
        try:
            problems = check()
        except Exception as exc:  # a broken round is retried, then reported
            problems = [f"check failed: {_describe(exc)}"]
        if not problems:
            return []
        remaining = deadline - clock()
        if remaining <= 0:
            return problems
        if on_wait is not None:
            on_wait(problems)
        sleep(min(interval, remaining))


def head_revision(timeout: float = GIT_TIMEOUT) -> str:
    """The commit checked out here (`git rev-parse HEAD`)."""
    return run(["git", "rev-parse", "HEAD"], timeout).strip()


def _revision(value: str) -> str:
    if not COMMIT.fullmatch(value.lower()):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a commit SHA (7-40 hex digits; Argo CD reports commits, not tags)"
        )
    return value.lower()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for health")
    parser.add_argument("--interval", type=int, default=20)
    parser.add_argument("--revision", type=_revision,
                        help="commit every Application must be synced to (default: git HEAD)")
    parser.add_argument("--ca-bundle", default=os.environ.get("PLATE_CA_BUNDLE") or None,
                        help="extra PEM CA bundle for the HTTPS checks (default: $PLATE_CA_BUNDLE)")
    args = parser.parse_args(argv)

    try:
        revision = args.revision or _revision(head_revision())
        context = ssl_context(args.ca_bundle)
        outputs = _json_of(["pulumi", "stack", "output", "--json", "--stack", args.stack],
                           timeout=PULUMI_TIMEOUT)
        environment = outputs["environment"]
    except (CommandError, argparse.ArgumentTypeError) as exc:
        print(f"health gate: {exc}", file=sys.stderr)
        return 1
    except (OSError, ssl.SSLError) as exc:
        print(f"health gate: --ca-bundle {args.ca_bundle}: {_describe(exc)}", file=sys.stderr)
        return 1
    except (KeyError, TypeError):
        print(f"health gate: stack {args.stack} has no 'environment' output", file=sys.stderr)
        return 1

    def fetch(url: str) -> tuple[int, str]:
        return http_get(url, context=context)

    problems = wait_until_healthy(
        lambda: check(outputs, revision, fetch), args.timeout, args.interval,
        on_wait=lambda found: print(f"waiting ({len(found)} problems): {found[0]}", flush=True),
    )
    if problems:
        print(f"UNHEALTHY after {args.timeout}s:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print(f"healthy: {environment} at {short(revision)}: Applications, ExternalSecrets and tools")
    return 0


if __name__ == "__main__":
    sys.exit(main())
