"""Post-deploy health gate: fails loudly unless the platform is really up.

    python -m ops.health_gate --stack prod [--timeout 900] [--revision SHA] [--ca-bundle FILE]
                              [--first-deploy]

Checks, until they hold or the timeout passes (kubectl runs against the stack's kube_context):
  1. every Argo CD Application of the stack's environment (the root and its children) is
     Synced and Healthy (`kubectl get applications.argoproj.io -o json`) at the deployed commit:
     `status.sync.revision` (or, multi-source, one of `status.sync.revisions`) is `--revision`,
     by default `git rev-parse HEAD`, so the previous revision's status right after `up` does
     not pass. An Application that follows a branch (`spec.source.targetRevision` is HEAD or a
     branch of this checkout: `refs/heads/<name>` or `refs/remotes/origin/<name>`, as stg
     follows `main`) may be synced to a later commit of it: a merge during the deploy moves it
     on. "Later" is `git merge-base --is-ancestor <deployed> <synced>` in this checkout (exit 0
     yes, 1 no); a commit the checkout does not have yet is fetched once (`git fetch --quiet
     origin`: it needs read access to origin; a CI checkout made with `persist-credentials:
     false` of a private repository must give that fetch a token) and asked again; a commit
     that stays unknown is a problem line naming the git error. A pinned Application (a tag or
     a commit, as prod) must report the deployed commit itself: a descendant there is the
     state from before a rollback;
  2. every ExternalSecret in plate-<env> is Ready: OpenBao answered and the Secret exists;
  3. each tool answers its own health endpoint over HTTPS with 200, the certificate verified
     against the system store plus `--ca-bundle` / $PLATE_CA_BUNDLE when given, else plus the
     stack's `ingress_ca_bundle` output (the stack file's `tls.ingress_ca_bundle`) when it has
     one, so a deploy (ops.deploy, the workflows) verifies a private ingress CA unasked:
     Argo CD `/healthz`, Harbor `/api/v2.0/health` (every component "healthy"), Grafana
     `/api/health`, OpenBao `/v1/sys/health` (initialised and unsealed; 501/503 otherwise).

The first deploy of an environment: its apps' secret values (`bao kv put plate/<env>/<app>`) and
its DNS records are written by people after `up`, so right after it the gate cannot pass. With
`--first-deploy` (given by the operator, never guessed: a first deploy and an environment whose
values were lost look the same to the cluster) these are pending items, printed but not
failures:
  - an app whose environment ExternalSecret (the one whose `dataFrom[].extract.key` is
    `<env>/<app>`) has never synced (no `status.refreshTime`), is not Ready with reason
    `SecretSyncedError`, while its store (the app's own SecretStore) is Ready with reason
    `Valid` (OpenBao answers and the store's login works): "first deploy: waiting for <app>'s
    secret values (bao kv put plate/<env>/<app> KEY=value ...)", naming the keys the app
    declares it cannot start without (the chart's `externalSecrets.requiredKeys`, rendered as
    `data` entries of `<env>/<app>`: "waiting for <app>'s secret values A, B (bao kv put
    plate/<env>/<app> A=... B=...)"); an app without required keys gets its Secret from an empty
    entry and does not wait; the Application
    `<app>-<env>`'s Synced/Healthy problems are pending with it (Argo CD holds its workloads
    behind the ExternalSecret's sync wave), its revision still counts;
  - a tool endpoint whose host name does not resolve (EAI_NONAME, EAI_NODATA).
External Secrets v2.9.0 sets these (pkg/controllers/externalsecret: markAsFailed keeps the
reason `SecretSyncedError` and no refreshTime; markAsDone sets refreshTime; secretstore
common.go: `Valid` after the provider's Validate logged in). Everything else still fails the
gate, and an ExternalSecret that synced before and fails now is a failure, flag or not; when it
reads required keys, its line names the app and the keys (a required key added or removed since:
External Secrets fails the read while one is missing, "cannot find secret data for key",
providers/v1/vault/client_get.go, and keeps the Secret it wrote before). Without the flag the
same ExternalSecret is a failure whose line says so.
Every subprocess and HTTP call has a timeout and every problem is one line (a failing command
shows the command, its exit code and its last stderr line; an endpoint its URL and the status or
error). Exit status 0 when healthy (pending first-deploy items listed), 1 with the list of
problems otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from components.names import APPS_MOUNT, PULL_SECRET_NAME

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
GIT_FETCH_TIMEOUT = 120.0  # `git fetch` of a synced commit this checkout does not have yet
MAX_LINE = 300  # characters of one problem line taken from a foreign message
COMMIT = re.compile(r"[0-9a-f]{7,40}")
FULL_COMMIT = re.compile(r"[0-9a-f]{40}")  # what Argo CD reports for a git source
GIT_REMOTE = "origin"
# External Secrets v2.9.0 (apis/externalsecrets/v1): the Ready condition's reason when reading the
# provider failed, and a store's when its provider validated (a login to OpenBao worked)
SYNC_FAILED = "SecretSyncedError"
STORE_VALID = "Valid"
# getaddrinfo's "this name has no address" (not a failing resolver: EAI_AGAIN stays a failure)
NO_DNS_RECORD = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


class CommandError(Exception):
    """A command failed, timed out, was missing or printed no JSON; the message is one line."""


@dataclass
class Findings:
    """One round's problems (the gate fails on them) and pending first-deploy items (it does
    not)."""

    problems: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def add(self, other: Findings) -> None:
        self.problems += other.problems
        self.pending += other.pending


class History(Protocol):
    """What the revision check asks git (GitHistory answers from this checkout)."""

    def follows_branch(self, target_revision: str) -> bool: ...

    def descends(self, commit: str, ancestor: str) -> bool: ...


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


def _tracked(spec: Mapping[str, Any], sync: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(targetRevision, reported revision) of each git source of an Application; a source
    without targetRevision follows HEAD (Argo CD's default)."""
    if spec.get("sources"):
        pairs = zip(spec["sources"], sync.get("revisions") or [], strict=False)
    elif spec.get("source"):
        pairs = zip([spec["source"]], [sync.get("revision") or ""], strict=False)
    else:
        return []
    return [(source.get("targetRevision") or "HEAD", reported.lower())
            for source, reported in pairs if FULL_COMMIT.fullmatch(reported.lower())]


def revision_problem(
    name: str, status: Mapping[str, Any], revision: str,
    spec: Mapping[str, Any] | None = None, history: History | None = None,
) -> str | None:
    """A line when the Application `name` (its `status`) is not synced to `revision`; with its
    `spec` and a `history`, a later commit of a branch it follows passes too."""
    sync = status.get("sync") or {}
    reported = [r for r in [sync.get("revision"), *(sync.get("revisions") or [])] if r]
    if any(revision_matches(r, revision) for r in reported):
        return None
    synced_to = ",".join(short(r) for r in reported) or "(none)"
    line = f"Application {name}: synced to {synced_to} not {short(revision)}"
    if history is None or spec is None:
        return line
    branches = []
    try:
        for target, commit in _tracked(spec, sync):
            if history.follows_branch(target):
                if history.descends(commit, revision):
                    return None
                branches.append(target)
    except CommandError as exc:
        return f"{line}; cannot tell if it is a later commit: {exc}"
    return f"{line} nor a later commit of {','.join(branches)}" if branches else line


def _mine(apps: Mapping[str, Any], environment: str) -> list[Mapping[str, Any]]:
    return sorted(
        (item for item in apps.get("items", [])
         if item["metadata"]["name"].startswith("plate-")
         and item["metadata"]["name"].endswith((f"-{environment}", f"-{environment}-apps"))),
        key=lambda i: i["metadata"]["name"],
    )


def application_findings(
    apps: Mapping[str, Any], environment: str, revision: str | None = None,
    *, history: History | None = None, waiting: Mapping[str, str] | None = None,
) -> Findings:
    """The Applications of `environment` in a `kubectl get -o json` list. With `revision`, each
    must be synced to it (or, given `history`, to a later commit of the branch it follows).
    `waiting`: Application name -> why it may not be Synced/Healthy yet (first deploy)."""
    mine = _mine(apps, environment)
    if not mine:
        return Findings([f"no Argo CD Applications found for environment {environment!r}"])
    found = Findings()
    for item in mine:
        name = item["metadata"]["name"]
        status = item.get("status") or {}
        sync = (status.get("sync") or {}).get("status", "Unknown")
        health = (status.get("health") or {}).get("status", "Unknown")
        if sync != "Synced" or health != "Healthy":
            line = f"Application {name}: sync={sync} health={health}"
            if waiting and name in waiting:
                found.pending.append(f"{line} ({waiting[name]})")
            else:
                found.problems.append(line)
        if revision is not None:
            problem = revision_problem(name, status, revision, item.get("spec"), history)
            if problem:
                found.problems.append(problem)
    return found


def application_problems(
    apps: Mapping[str, Any], environment: str, revision: str | None = None
) -> list[str]:
    """Problems of the Applications of `environment` in a `kubectl get -o json` list.

    With `revision`, every Application must also report it as its synced revision.
    """
    return application_findings(apps, environment, revision).problems


class GitHistory:
    """Answers `History` from the git checkout in `cwd` (default: the current directory);
    commits are cached, a commit the checkout lacks is fetched once from `remote`."""

    def __init__(self, cwd: str | None = None, remote: str = GIT_REMOTE) -> None:
        self.cwd, self.remote = cwd, remote
        self._branches: dict[str, bool] = {}
        self._descends: dict[tuple[str, str], bool] = {}
        self._fetched: set[str] = set()

    def follows_branch(self, target_revision: str) -> bool:
        """HEAD (the remote's default branch), or a branch of this checkout by that name."""
        if target_revision == "HEAD":
            return True
        if target_revision not in self._branches:
            refs = [f"refs/heads/{target_revision}",
                    f"refs/remotes/{self.remote}/{target_revision}"]
            out = run(["git", "for-each-ref", "--format=%(refname)", *refs], GIT_TIMEOUT, self.cwd)
            # for-each-ref also lists refs below a pattern (main/x): only the exact ones count
            self._branches[target_revision] = bool(set(out.split()) & set(refs))
        return self._branches[target_revision]

    def descends(self, commit: str, ancestor: str) -> bool:
        """`commit` is `ancestor` or a later commit of its history."""
        key = (commit, ancestor)
        if key not in self._descends:
            code, err = self._is_ancestor(ancestor, commit)
            if code not in (0, 1) and commit not in self._fetched:
                self._fetched.add(commit)  # unknown here: fetch once, ask again
                run(["git", "fetch", "--quiet", self.remote], GIT_FETCH_TIMEOUT, self.cwd)
                code, err = self._is_ancestor(ancestor, commit)
            if code not in (0, 1):
                raise CommandError(
                    f"git merge-base --is-ancestor {ancestor} {commit}: exit {code}: {err}"
                )
            self._descends[key] = code == 0
        return self._descends[key]

    def _is_ancestor(self, ancestor: str, commit: str) -> tuple[int, str]:
        # git-merge-base(1): --is-ancestor exits 0 when it is, 1 when not, other codes on errors
        return exit_status(["git", "merge-base", "--is-ancestor", ancestor, commit],
                           GIT_TIMEOUT, self.cwd)


def endpoint_findings(
    outputs: Mapping[str, Any], fetch: Callable[[str], tuple[int, str]],
    first_deploy: bool = False,
) -> Findings:
    """The tools' health endpoints; `fetch(url)` returns (status, body) or raises. On a first
    deploy a host name without a DNS record is pending."""
    found = Findings()
    for key, path in HEALTH_ENDPOINTS.items():
        if key not in outputs:
            continue
        url = outputs[key].rstrip("/") + path
        try:
            status, body = fetch(url)
        except Exception as exc:  # every failure is a finding, reported by name
            if first_deploy and _no_dns_record(exc):
                host = urllib.parse.urlsplit(url).hostname
                found.pending.append(f"first deploy: waiting for the DNS record of {host} "
                                     f"({url}: {_describe(exc)})")
            else:
                found.problems.append(f"{url}: {_describe(exc)}")
            continue
        if status != 200:
            state = OPENBAO_STATES.get(status, "") if key == "openbao_url" else ""
            found.problems.append(f"{url}: HTTP {status}" + (f" ({state})" if state else ""))
        elif key == "harbor_url":
            found.problems += _harbor_components(url, body)
    return found


def endpoint_problems(
    outputs: Mapping[str, Any], fetch: Callable[[str], tuple[int, str]]
) -> list[str]:
    """Problems of the tools' health endpoints; `fetch(url)` returns (status, body) or raises."""
    return endpoint_findings(outputs, fetch).problems


def _no_dns_record(exc: BaseException) -> bool:
    """urllib wraps getaddrinfo's error in a URLError: is it "this name has no address"?"""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, socket.gaierror) and reason.errno in NO_DNS_RECORD


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


def _ready(status: Mapping[str, Any] | None) -> Mapping[str, Any]:
    conditions = (status or {}).get("conditions") or []
    ready: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    return ready


def _secret_name(item: Mapping[str, Any]) -> str:
    return f"{item['metadata'].get('namespace', '')}/{item['metadata']['name']}"


def external_secret_problems(secrets: Mapping[str, Any]) -> list[str]:
    """ExternalSecrets (a `kubectl get -o json` list) that are not Ready, with the reason."""
    problems = []
    for item in sorted(secrets.get("items", []), key=lambda i: i["metadata"]["name"]):
        ready = _ready(item.get("status"))
        if ready.get("status") != "True":
            why = ready.get("message") or ready.get("reason") or "no Ready condition yet"
            problems.append(f"ExternalSecret {_secret_name(item)}: not Ready ({one_line(why)})")
    return problems


@dataclass(frozen=True)
class Missing:
    """An app's environment ExternalSecret that waits for values in OpenBao."""

    app: str
    store: str  # the app's own SecretStore
    required: tuple[str, ...]  # the keys it reads one by one (the chart's requiredKeys)
    synced_before: bool


def values_missing(secret: Mapping[str, Any], environment: str) -> Missing | None:
    """The app whose values this ExternalSecret waits for, or None.

    It is an app's environment (`dataFrom[].extract.key` is `<env>/<app>`), its read from the
    provider failed (Ready False, reason SecretSyncedError), and either it never synced (no
    refreshTime: nothing was ever written), or it reads required keys one by one (`data` entries
    of `<env>/<app>`, the chart's `externalSecrets.requiredKeys`): External Secrets fails the whole
    read while one is missing ("cannot find secret data for key"), also after earlier syncs, and
    its status keeps the old refreshTime (markAsFailed does not touch it)."""
    spec, status = secret.get("spec") or {}, secret.get("status") or {}
    ready = _ready(status)
    store = spec.get("secretStoreRef") or {}
    if (ready.get("status") != "False" or ready.get("reason") != SYNC_FAILED
            or store.get("kind", "SecretStore") != "SecretStore"):
        return None
    for source in spec.get("dataFrom") or []:
        key = (source.get("extract") or {}).get("key") or ""
        env, _, app = key.partition("/")
        if env == environment and app and "/" not in app and app != PULL_SECRET_NAME:
            required = tuple(
                str((d.get("remoteRef") or {}).get("property"))
                for d in spec.get("data") or []
                if (d.get("remoteRef") or {}).get("key") == key
                and (d.get("remoteRef") or {}).get("property")
            )
            synced_before = bool(status.get("refreshTime"))
            if synced_before and not required:
                return None  # its values were there and something else broke since
            return Missing(app, str(store.get("name", "")), required, synced_before)
    return None


def store_valid(store: Mapping[str, Any]) -> bool:
    """A SecretStore whose provider validated: Ready True with reason Valid."""
    ready = _ready(store.get("status"))
    return ready.get("status") == "True" and ready.get("reason") == STORE_VALID


def secret_findings(
    secrets: Mapping[str, Any], environment: str, valid_stores: Collection[str],
    first_deploy: bool,
) -> tuple[Findings, dict[str, str]]:
    """The ExternalSecrets, and Application name -> the app values it waits for (first deploy).

    An app's environment whose values seem missing (`values_missing`, its store in
    `valid_stores`) is pending on a first deploy (when it never synced) and otherwise a failure
    naming the app and, when it declares them, its required keys."""
    found, waiting = Findings(), dict[str, str]()
    problems = external_secret_problems(secrets)
    for item in sorted(secrets.get("items", []), key=lambda i: i["metadata"]["name"]):
        missing = values_missing(item, environment)
        if missing is None or missing.store not in valid_stores:
            continue
        app = missing.app
        line = next(p for p in problems if p.startswith(f"ExternalSecret {_secret_name(item)}:"))
        problems.remove(line)
        values = "secret values" + (f" {', '.join(missing.required)}" if missing.required else "")
        keys = " ".join(f"{k}=..." for k in missing.required) or "KEY=value ..."
        # `kv put` replaces the entry, `kv patch` keeps the fields it does not name
        verb = "patch" if missing.synced_before else "put"
        put = f"bao kv {verb} {APPS_MOUNT}/{environment}/{app} {keys}"
        if first_deploy and not missing.synced_before:
            found.pending.append(f"first deploy: waiting for {app}'s {values} ({put})")
            waiting[f"{app}-{environment}"] = f"first deploy: waits for {app}'s secret values"
        elif missing.synced_before:
            found.problems.append(f"{line}: {app} waits for its required {values} though "
                                  f"OpenBao answers ({put})")
        else:
            what = values if missing.required else "values"
            found.problems.append(f"{line}: never synced though OpenBao answers: {app}'s "
                                  f"{what} seem missing ({put}; a first deploy: "
                                  "--first-deploy)")
    found.problems = problems + found.problems
    return found, waiting


def ssl_context(ca_bundle: str | None = None, ca_data: str | None = None) -> ssl.SSLContext:
    """The system trust store, plus the PEM certificates in the file `ca_bundle` or the text
    `ca_data` when given."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    if ca_data:
        context.load_verify_locations(cadata=ca_data)
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


def _completed(
    command: list[str], timeout: float, cwd: str | None
) -> subprocess.CompletedProcess[str]:
    """`command` run to its end; CommandError (one line) when it hangs or cannot start."""
    shown = shlex.join(command)
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise CommandError(f"{shown}: timed out after {timeout:g}s") from None
    except OSError as exc:
        raise CommandError(f"{shown}: {_describe(exc)}") from None


def _last_stderr_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return lines[-1][:MAX_LINE] if lines else "(no stderr)"


def exit_status(command: list[str], timeout: float, cwd: str | None = None) -> tuple[int, str]:
    """(exit status, last stderr line) of `command`; CommandError when it hangs or is missing."""
    result = _completed(command, timeout, cwd)
    return result.returncode, _last_stderr_line(result)


def run(command: list[str], timeout: float, cwd: str | None = None) -> str:
    """The stdout of `command`; CommandError (one line) when it fails, hangs or is missing."""
    result = _completed(command, timeout, cwd)
    if result.returncode != 0:
        raise CommandError(
            f"{shlex.join(command)}: exit {result.returncode}: {_last_stderr_line(result)}"
        )
    return result.stdout


def _json_of(command: list[str], timeout: float = KUBECTL_TIMEOUT) -> Any:
    stdout = run(command, timeout)
    try:
        return json.loads(stdout)
    except ValueError as exc:
        raise CommandError(f"{shlex.join(command)}: output is not JSON ({exc})") from None


def _kubectl(context: str | None, *args: str) -> list[str]:
    return ["kubectl", *(["--context", context] if context else []), *args]


def _valid_stores(
    context: str | None, secrets: Mapping[str, Any], environment: str, namespace: str,
    found: Findings,
) -> set[str]:
    """The SecretStores (in the apps' `namespace`) of seemingly value-less app secrets that
    validated (one `kubectl get` each); a failing read is a problem of the round."""
    names = {m.store for item in secrets.get("items", [])
             if (m := values_missing(item, environment))}
    valid = set()
    for name in sorted(names):
        try:
            store = _json_of(_kubectl(context, "get", "secretstores.external-secrets.io",
                                      name, "-n", namespace, "-o", "json"))
        except CommandError as exc:
            found.problems.append(str(exc))
            continue
        if store_valid(store):
            valid.add(name)
    return valid


def check_round(
    outputs: Mapping[str, Any],
    revision: str | None = None,
    fetch: Callable[[str], tuple[int, str]] = http_get,
    *,
    first_deploy: bool = False,
    history: History | None = None,
) -> Findings:
    """One round of every check; a kubectl failure is a problem of the round, not an error."""
    environment = outputs["environment"]
    context = outputs.get("kube_context")
    namespace = outputs.get("argocd_namespace", "argocd")
    secret_round, waiting = Findings(), dict[str, str]()
    apps_namespace = outputs.get("apps_namespace", f"plate-{environment}")
    try:
        secrets = _json_of(_kubectl(context, "get", "externalsecrets.external-secrets.io",
                                    "-n", apps_namespace, "-o", "json"))
        stores = _valid_stores(context, secrets, environment, apps_namespace, secret_round)
        checked, waiting = secret_findings(secrets, environment, stores, first_deploy)
        secret_round.add(checked)
    except CommandError as exc:
        secret_round.problems.append(str(exc))
    try:
        apps = _json_of(_kubectl(context, "get", "applications.argoproj.io", "-n", namespace,
                                 "-o", "json"))
        found = application_findings(apps, environment, revision, history=history,
                                     waiting=waiting)
    except CommandError as exc:
        found = Findings([str(exc)])
    found.add(secret_round)
    found.add(endpoint_findings(outputs, fetch, first_deploy))
    return found


def check(
    outputs: Mapping[str, Any],
    revision: str | None = None,
    fetch: Callable[[str], tuple[int, str]] = http_get,
) -> list[str]:
    """One round of every check's problems (no first-deploy allowance, exact revisions)."""
    return check_round(outputs, revision, fetch).problems


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for health")
    parser.add_argument("--interval", type=int, default=20)
    parser.add_argument("--revision", type=_revision,
                        help="commit every Application must be synced to (default: git HEAD)")
    parser.add_argument("--ca-bundle", default=os.environ.get("PLATE_CA_BUNDLE") or None,
                        help="extra PEM CA bundle for the HTTPS checks (default: $PLATE_CA_BUNDLE)")
    parser.add_argument("--first-deploy", action="store_true",
                        help="the environment's first deploy: apps waiting for their secret "
                        "values and host names without DNS records are pending, not failures")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        revision = args.revision or _revision(head_revision())
        context = ssl_context(args.ca_bundle)
        outputs = _json_of(["pulumi", "stack", "output", "--json", "--stack", args.stack],
                           timeout=PULUMI_TIMEOUT)
        environment = outputs["environment"]
        stack_bundle = outputs.get("ingress_ca_bundle") if not args.ca_bundle else None
        if stack_bundle:
            context = ssl_context(ca_data=stack_bundle)
    except (CommandError, argparse.ArgumentTypeError) as exc:
        print(f"health gate: {exc}", file=sys.stderr)
        return 1
    except (OSError, ssl.SSLError) as exc:
        source = f"--ca-bundle {args.ca_bundle}" if args.ca_bundle else (
            "the stack's ingress_ca_bundle output (tls.ingress_ca_bundle)")
        print(f"health gate: {source}: {_describe(exc)}", file=sys.stderr)
        return 1
    except (KeyError, TypeError):
        print(f"health gate: stack {args.stack} has no 'environment' output", file=sys.stderr)
        return 1

    def fetch(url: str) -> tuple[int, str]:
        return http_get(url, context=context)

    history, last = GitHistory(), Findings()

    def one_round() -> list[str]:
        nonlocal last
        last = Findings()  # a round that crashes leaves nothing pending
        last = check_round(outputs, revision, fetch, first_deploy=args.first_deploy,
                           history=history)
        return last.problems

    problems = wait_until_healthy(
        one_round, args.timeout, args.interval,
        on_wait=lambda found: print(f"waiting ({len(found)} problems): {found[0]}", flush=True),
    )
    pending = [f"pending: {item}" for item in last.pending]
    if problems:
        print(f"UNHEALTHY after {args.timeout}s:", *problems, *pending, sep="\n  ",
              file=sys.stderr)
        return 1
    print(f"healthy: {environment} at {short(revision)}: Applications, ExternalSecrets and tools"
          + (f"; first deploy, {len(pending)} pending:" if pending else ""), *pending,
          sep="\n  ")
    return 0

if __name__ == "__main__":
    sys.exit(main())
