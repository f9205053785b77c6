"""The post-deploy health gate (`ops/health_gate.py`) beyond its pure checks.

Verifies: every Application must be synced to the deployed commit (`status.sync.revision`, or
one of `status.sync.revisions` for multi-source apps; an abbreviated SHA matches; a missing
revision is a problem); the polling loop with a fake clock and sleep (healthy on the third round
after two sleeps, never healthy returns the last round's problems at the deadline without
sleeping past it, a crashing round is a one-line problem); the HTTPS health checks against a real
`http.server` on 127.0.0.1 with a self-signed certificate made by the `openssl` CLI (trusted only
through the CA bundle: 200 passes, 503 fails, a slow endpoint times out, an untrusted certificate
fails, each as one line); failing, hanging, missing and non-JSON commands as one line with the
command, exit code and last stderr line; and `main` end to end with fake `pulumi`, `kubectl` and
`git` on PATH (0 when healthy, 1 on the previous revision, an unreachable cluster, a failing
`pulumi`, or a tag given as --revision).

The two defects of the issue, against a real git checkout and the kubectl stand-in
(standins/kubectl.py): an Application following `main` synced to a later commit passes, the
commit fetched once when the checkout lacks it (also with an abbreviated deployed SHA, and for
the git source of a multi-source app), while an older commit, another branch's commit, a later
commit under a pinned tag or commit (a rollback) and a checkout that cannot answer still fail,
each as one line; `main` passes the stg gate when main moved on during the deploy. On a first
deploy (`--first-deploy`) the app whose ExternalSecret never synced while its own SecretStore
validated is named as pending with its `bao kv put` path, its Application's sync/health with it,
and a host name without a DNS record is pending; without the flag the same state fails and says
why; with it an ExternalSecret that synced before, an invalid store, the Harbor pull secret,
another app's health, the waiting app's revision and a failing resolver still fail; `main` exits
0 listing the pending items, 1 without the flag. An app declaring required keys (the chart's
`externalSecrets.requiredKeys`) is named with its keys, pending on a first deploy and a failure
(`bao kv patch`) when a required key is missing after earlier syncs; an app without required keys
synced from an empty entry does not wait.
"""

from __future__ import annotations

import functools
import json
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ops import health_gate
from ops.health_gate import (
    CommandError,
    application_problems,
    check,
    endpoint_problems,
    http_get,
    main,
    run,
    ssl_context,
    wait_until_healthy,
)
from tests.operations.standins.kubectl import Cluster

DEPLOYED = "0123456789abcdef0123456789abcdef01234567"
PREVIOUS = "fedcba9876543210fedcba9876543210fedcba98"
HARBOR_HEALTHY = json.dumps({"status": "healthy", "components": [
    {"name": "core", "status": "healthy"}, {"name": "registry", "status": "healthy"}]})


def assert_one_line_each(problems: list[str]) -> None:
    assert problems and all(p and "\n" not in p and "Traceback" not in p for p in problems)


# --- the deployed revision ----------------------------------------------------------------------


def app(name: str, revision: str | None = None, revisions: list[str] | None = None) -> dict:
    sync: dict = {"status": "Synced"}
    if revision is not None:
        sync["revision"] = revision
    if revisions is not None:
        sync["revisions"] = revisions
    return {"metadata": {"name": name},
            "status": {"sync": sync, "health": {"status": "Healthy"}}}


def test_revision_match_passes_full_and_abbreviated():
    apps = {"items": [app("plate-prod-apps", DEPLOYED), app("plate-web-prod", DEPLOYED.upper())]}
    assert application_problems(apps, "prod", DEPLOYED) == []
    assert application_problems(apps, "prod", DEPLOYED[:7]) == []


def test_revision_mismatch_names_both_short_shas():
    apps = {"items": [app("plate-prod-apps", DEPLOYED), app("plate-web-prod", PREVIOUS),
                      app("plate-web-stg", PREVIOUS)]}  # another environment: ignored
    assert application_problems(apps, "prod", DEPLOYED) == [
        "Application plate-web-prod: synced to fedcba9 not 0123456"
    ]
    # a too-short prefix never matches by accident
    assert application_problems({"items": [app("plate-web-prod", DEPLOYED)]}, "prod", "0") == [
        "Application plate-web-prod: synced to 0123456 not 0"
    ]
    # without a revision the check is the Synced/Healthy one alone
    assert application_problems(apps, "prod") == []


def test_multi_source_revisions_must_contain_the_deployed_commit():
    good = {"items": [app("plate-web-prod", revisions=[PREVIOUS, DEPLOYED])]}
    assert application_problems(good, "prod", DEPLOYED) == []
    stale = {"items": [app("plate-web-prod", revisions=[PREVIOUS, "a" * 40])]}
    assert application_problems(stale, "prod", DEPLOYED) == [
        "Application plate-web-prod: synced to fedcba9,aaaaaaa not 0123456"
    ]


def test_missing_status_or_revision_is_a_problem():
    apps = {"items": [{"metadata": {"name": "plate-api-prod"}}, app("plate-web-prod")]}
    assert application_problems(apps, "prod", DEPLOYED) == [
        "Application plate-api-prod: sync=Unknown health=Unknown",
        "Application plate-api-prod: synced to (none) not 0123456",
        "Application plate-web-prod: synced to (none) not 0123456",
    ]


# --- the polling loop ---------------------------------------------------------------------------


@dataclass
class FakeTime:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_until_healthy_on_the_third_round_after_two_sleeps():
    time = FakeTime()
    rounds = iter([["a", "b"], ["b"], []])
    waited: list[list[str]] = []
    problems = wait_until_healthy(lambda: next(rounds), timeout=100, interval=20,
                                  clock=time.clock, sleep=time.sleep, on_wait=waited.append)
    assert problems == []
    assert time.sleeps == [20, 20]
    assert waited == [["a", "b"], ["b"]]


def test_wait_until_healthy_never_healthy_returns_the_last_problems_at_the_deadline():
    time = FakeTime()
    count = 0

    def never() -> list[str]:
        nonlocal count
        count += 1
        return [f"round {count}"]

    problems = wait_until_healthy(never, timeout=50, interval=20,
                                  clock=time.clock, sleep=time.sleep)
    # rounds at 0, 20, 40 and 50: the last sleep stops at the deadline
    assert problems == ["round 4"]
    assert time.sleeps == [20, 20, 10]
    assert time.now == 1050.0


def test_wait_until_healthy_reports_a_crashing_round_as_one_line():
    time = FakeTime()

    def broken() -> list[str]:
        raise KeyError("metadata")

    assert wait_until_healthy(broken, timeout=0, interval=5, clock=time.clock,
                              sleep=time.sleep) == ["check failed: KeyError: 'metadata'"]
    assert time.sleeps == []


# --- HTTPS health endpoints ---------------------------------------------------------------------


@dataclass
class Server:
    base: str
    ca_bundle: Path
    routes: dict[str, tuple[int, str]]


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[Server]:
    """HTTPS on 127.0.0.1 with a fresh self-signed certificate; "/slow" answers after 5 s."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=plate health gate test", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    routes: dict[str, tuple[int, str]] = {}
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            if self.path == "/slow":
                release.wait(5)
            status, body = routes.get(self.path, (404, "not found"))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # clients that time out or reject the certificate hang up mid-request

    server = QuietServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield Server(f"https://127.0.0.1:{server.server_address[1]}", cert, routes)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_https_health_200_passes_503_fails_with_the_ca_bundle(https_server: Server):
    https_server.routes.update({
        "/healthz": (200, "ok"),
        "/api/v2.0/health": (200, HARBOR_HEALTHY),
        "/v1/sys/health?standbyok=true": (503, "{}"),
    })
    outputs = {"argocd_url": https_server.base + "/", "harbor_url": https_server.base,
               "openbao_url": https_server.base}
    fetch = functools.partial(http_get, timeout=5, context=ssl_context(str(https_server.ca_bundle)))
    assert endpoint_problems(outputs, fetch) == [
        f"{https_server.base}/v1/sys/health?standbyok=true: HTTP 503 (sealed)"
    ]
    https_server.routes["/v1/sys/health?standbyok=true"] = (200, "{}")
    assert endpoint_problems(outputs, fetch) == []


def test_https_untrusted_certificate_fails_as_one_line(https_server: Server):
    https_server.routes["/healthz"] = (200, "ok")
    # the system store alone does not know the self-signed certificate
    problems = endpoint_problems({"argocd_url": https_server.base},
                                 functools.partial(http_get, timeout=5, context=ssl_context()))
    assert_one_line_each(problems)
    assert len(problems) == 1
    assert problems[0].startswith(f"{https_server.base}/healthz: SSLCertVerificationError: ")
    assert "CERTIFICATE_VERIFY_FAILED" in problems[0]


def test_https_slow_endpoint_times_out_as_one_line(https_server: Server):
    context = ssl_context(str(https_server.ca_bundle))
    with pytest.raises(TimeoutError):
        http_get(https_server.base + "/slow", timeout=0.3, context=context)
    slow = {"harbor_url": https_server.base}
    https_server.routes["/api/v2.0/health"] = (200, HARBOR_HEALTHY)

    def fetch(url: str) -> tuple[int, str]:
        return http_get(https_server.base + "/slow", timeout=0.3, context=context)

    (problem,) = endpoint_problems(slow, fetch)
    assert re.fullmatch(rf"{re.escape(https_server.base)}/api/v2\.0/health: TimeoutError: "
                        r"(The read operation )?timed out", problem)


def test_ca_bundle_that_is_not_a_certificate_is_refused(tmp_path: Path):
    bogus = tmp_path / "bundle.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ssl.SSLError):
        ssl_context(str(bogus))


# --- commands -----------------------------------------------------------------------------------


def fake_command(bin_dir: Path, name: str, replies: dict[str, str] | None = None, *,
                 stderr: str = "", code: int = 0, sleep: float = 0) -> None:
    """An executable `name` that logs its arguments, prints the reply of the first argument
    found in `replies`, writes `stderr` and exits with `code`."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, time\n"
        "args = sys.argv[1:]\n"
        f"with open({str(bin_dir / 'calls.jsonl')!r}, 'a') as log:\n"
        f"    log.write(json.dumps([{name!r}, *args]) + '\\n')\n"
        f"time.sleep({sleep!r})\n"
        f"for needle, out in {replies or {}!r}.items():\n"
        "    if needle in args:\n"
        "        sys.stdout.write(out)\n"
        "        break\n"
        f"sys.stderr.write({stderr!r})\n"
        f"sys.exit({code})\n"
    )
    script.chmod(0o755)


def calls(bin_dir: Path) -> list[list[str]]:
    return [json.loads(line) for line in (bin_dir / "calls.jsonl").read_text().splitlines()]


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", f"{path}:/usr/bin:/bin")
    monkeypatch.delenv("PLATE_CA_BUNDLE", raising=False)
    return path


def test_kubectl_failure_is_one_problem_line_with_command_exit_code_and_last_stderr(
    bin_dir: Path,
):
    fake_command(bin_dir, "kubectl", stderr="E0101 memcache.go:265] couldn't get current server\n"
                 "error: You must be logged in to the server (Unauthorized)\n", code=1)
    problems = check({"environment": "prod", "kube_context": "plate-prod"}, DEPLOYED,
                     fetch=lambda url: (200, ""))
    assert problems == [
        "kubectl --context plate-prod get applications.argoproj.io -n argocd -o json: exit 1: "
        "error: You must be logged in to the server (Unauthorized)",
        "kubectl --context plate-prod get externalsecrets.external-secrets.io -n plate-prod "
        "-o json: exit 1: error: You must be logged in to the server (Unauthorized)",
    ]


def test_hanging_missing_and_non_json_commands_are_one_line(bin_dir: Path):
    fake_command(bin_dir, "kubectl", sleep=5)
    with pytest.raises(CommandError, match=r"^kubectl get pods: timed out after 0\.3s$"):
        run(["kubectl", "get", "pods"], timeout=0.3)
    with pytest.raises(CommandError) as missing:
        run(["no-such-command-here", "x"], timeout=5)
    assert str(missing.value).startswith("no-such-command-here x: FileNotFoundError: ")
    fake_command(bin_dir, "pulumi", {"output": "Traceback\nnot json\n"})
    with pytest.raises(CommandError) as garbled:
        health_gate._json_of(["pulumi", "stack", "output"])
    assert_one_line_each([str(garbled.value)])
    assert str(garbled.value).startswith("pulumi stack output: output is not JSON (")


# --- main end to end ----------------------------------------------------------------------------


def kube_list(*items: dict) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})


def ready_secret(name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "plate-prod"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def deploy_fakes(bin_dir: Path, server: Server, app_revision: str,
                 **more_outputs: str) -> None:
    outputs = {"environment": "prod", "kube_context": "plate-prod",
               "argocd_url": server.base, "grafana_url": server.base,
               "harbor_url": server.base, "openbao_url": server.base, **more_outputs}
    fake_command(bin_dir, "pulumi", {"output": json.dumps(outputs)})
    fake_command(bin_dir, "git", {"rev-parse": DEPLOYED + "\n"})
    fake_command(bin_dir, "kubectl", {
        "applications.argoproj.io": kube_list(app("plate-prod-apps", DEPLOYED),
                                              app("plate-web-prod", app_revision)),
        "externalsecrets.external-secrets.io": kube_list(ready_secret("plate-web-env")),
    })
    server.routes.update({
        "/healthz": (200, "ok"), "/api/health": (200, "{}"),
        "/api/v2.0/health": (200, HARBOR_HEALTHY), "/v1/sys/health?standbyok=true": (200, "{}"),
    })


def test_main_exits_0_when_everything_is_healthy_at_the_deployed_commit(
    bin_dir: Path, https_server: Server, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    deploy_fakes(bin_dir, https_server, DEPLOYED)
    monkeypatch.setenv("PLATE_CA_BUNDLE", str(https_server.ca_bundle))
    # the revision defaults to `git rev-parse HEAD`, the CA bundle to $PLATE_CA_BUNDLE
    assert main(["--stack", "prod", "--timeout", "0"]) == 0
    assert "healthy: prod at 0123456" in capsys.readouterr().out
    made = calls(bin_dir)
    assert ["git", "rev-parse", "HEAD"] in made
    assert ["pulumi", "stack", "output", "--json", "--stack", "prod"] in made
    assert ["kubectl", "--context", "plate-prod", "get", "applications.argoproj.io", "-n",
            "argocd", "-o", "json"] in made
    # an explicit --revision and --ca-bundle do the same without git or the environment
    monkeypatch.delenv("PLATE_CA_BUNDLE")
    (bin_dir / "git").unlink()
    assert main(["--stack", "prod", "--timeout", "0", "--revision", DEPLOYED[:12],
                 "--ca-bundle", str(https_server.ca_bundle)]) == 0


def test_main_trusts_the_stacks_ingress_ca_bundle_output_unasked(
    bin_dir: Path, https_server: Server, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("PLATE_CA_BUNDLE", raising=False)
    bundle = https_server.ca_bundle.read_text()
    # what ops.deploy and the workflows run: no --ca-bundle; the stack file's
    # tls.ingress_ca_bundle reaches the gate as the `ingress_ca_bundle` output
    deploy_fakes(bin_dir, https_server, DEPLOYED, ingress_ca_bundle=bundle)
    assert main(["--stack", "prod", "--timeout", "0", "--revision", DEPLOYED]) == 0
    assert "healthy: prod at 0123456" in capsys.readouterr().out
    # without it the same tools' certificates are untrusted
    deploy_fakes(bin_dir, https_server, DEPLOYED)
    assert main(["--stack", "prod", "--timeout", "0", "--revision", DEPLOYED]) == 1
    assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().err
    # an output that is no certificate is one clear line
    deploy_fakes(bin_dir, https_server, DEPLOYED, ingress_ca_bundle="not a certificate")
    assert main(["--stack", "prod", "--timeout", "0", "--revision", DEPLOYED]) == 1
    assert capsys.readouterr().err.startswith(
        "health gate: the stack's ingress_ca_bundle output (tls.ingress_ca_bundle): ")


def test_main_exits_1_while_an_application_shows_the_previous_revision(
    bin_dir: Path, https_server: Server, capsys: pytest.CaptureFixture[str],
):
    deploy_fakes(bin_dir, https_server, PREVIOUS)
    code = main(["--stack", "prod", "--timeout", "1", "--interval", "1", "--revision", DEPLOYED,
                 "--ca-bundle", str(https_server.ca_bundle)])
    captured = capsys.readouterr()
    assert code == 1
    assert "waiting (1 problems): Application plate-web-prod: synced to fedcba9 not 0123456" in (
        captured.out)
    assert captured.err == (
        "UNHEALTHY after 1s:\n  Application plate-web-prod: synced to fedcba9 not 0123456\n"
    )


def test_main_exits_1_with_one_line_problems_when_the_cluster_and_tools_are_unreachable(
    bin_dir: Path, https_server: Server, capsys: pytest.CaptureFixture[str],
):
    deploy_fakes(bin_dir, https_server, DEPLOYED)
    fake_command(bin_dir, "kubectl", stderr="Unable to connect to the server: dial tcp: i/o "
                 "timeout\n", code=1)
    # without the CA bundle every tool's certificate is untrusted
    assert main(["--stack", "prod", "--timeout", "0", "--revision", DEPLOYED]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "UNHEALTHY after 0s:"
    problems = [line.strip() for line in err[1:]]
    assert_one_line_each(problems)
    assert len(problems) == 2 + 4
    assert problems[0] == (
        "kubectl --context plate-prod get applications.argoproj.io -n argocd -o json: exit 1: "
        "Unable to connect to the server: dial tcp: i/o timeout"
    )
    assert all("SSLCertVerificationError" in p for p in problems[2:])


def test_main_refuses_a_failing_pulumi_and_a_tag_as_revision(
    bin_dir: Path, capsys: pytest.CaptureFixture[str],
):
    fake_command(bin_dir, "pulumi", stderr="error: no stack named 'prod' found\n", code=255)
    assert main(["--stack", "prod", "--revision", DEPLOYED]) == 1
    assert capsys.readouterr().err == (
        "health gate: pulumi stack output --json --stack prod: exit 255: error: no stack named "
        "'prod' found\n"
    )
    fake_command(bin_dir, "git", stderr="fatal: not a git repository\n", code=128)
    assert main(["--stack", "prod"]) == 1
    assert capsys.readouterr().err == (
        "health gate: git rev-parse HEAD: exit 128: fatal: not a git repository\n"
    )
    with pytest.raises(SystemExit) as usage:
        main(["--stack", "prod", "--revision", "v1.0.0"])
    assert usage.value.code == 2
    assert "is not a commit SHA" in capsys.readouterr().err


# --- stg follows main: a later commit of the branch passes (real git) ---------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Gate Test", "-c", "user.email=gate@test.invalid",
         "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false",
         *args],
        cwd=cwd, check=True, capture_output=True, text=True, timeout=30,
    ).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "commit", "--allow-empty", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@dataclass
class Repo:
    """`upstream` (origin) has main: BASE - DEPLOYED - LATER (LATER pushed after the checkout was
    cloned, so `checkout` does not have it yet), a tag v1.0.0 on DEPLOYED and a branch `side`
    from BASE with SIDE, which is not a later commit of DEPLOYED."""

    upstream: Path
    checkout: Path
    base: str
    deployed: str
    later: str
    side: str


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    upstream, checkout = tmp_path / "upstream", tmp_path / "checkout"
    upstream.mkdir()
    git(upstream, "init", "-q")
    base = commit(upstream, "base")
    deployed = commit(upstream, "deployed")
    git(upstream, "tag", "v1.0.0")
    git(upstream, "checkout", "-q", "-b", "side", base)
    side = commit(upstream, "side")
    git(upstream, "checkout", "-q", "main")
    git(tmp_path, "clone", "-q", str(upstream), str(checkout))
    later = commit(upstream, "merged during the deploy")
    return Repo(upstream, checkout, base, deployed, later, side)


def tracking(name: str, target: str | None, revision: str, **status: str) -> dict:
    """An Application whose one git source has `targetRevision: target` (None: not set)."""
    source = {"repoURL": "https://git.example/plate.git", "path": "helm/applications/plate-web"}
    if target is not None:
        source["targetRevision"] = target
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"project": "plate-stg", "source": source},
            "status": {"sync": {"status": status.get("sync", "Synced"), "revision": revision},
                       "health": {"status": status.get("health", "Healthy")}}}


def test_an_app_following_main_may_be_synced_to_a_later_commit_fetched_once(repo: Repo):
    history = health_gate.GitHistory(cwd=str(repo.checkout))
    with pytest.raises(subprocess.CalledProcessError):  # the checkout does not have it yet
        git(repo.checkout, "cat-file", "-e", f"{repo.later}^{{commit}}")
    apps = {"items": [tracking("plate-stg-apps", "main", repo.deployed),
                      tracking("plate-web-stg", "main", repo.later),
                      tracking("plate-api-stg", None, repo.later)]}  # no targetRevision: HEAD
    assert health_gate.application_findings(apps, "stg", repo.deployed, history=history) == (
        health_gate.Findings())
    git(repo.checkout, "cat-file", "-e", f"{repo.later}^{{commit}}")  # fetched
    # an abbreviated deployed commit (ops.deploy passes `git rev-parse --short HEAD`) too
    assert health_gate.application_findings(apps, "stg", repo.deployed[:7],
                                            history=history).problems == []
    # today's check, without the history, fails the very same Applications
    assert application_problems(apps, "stg", repo.deployed) == [
        f"Application plate-api-stg: synced to {repo.later[:7]} not {repo.deployed[:7]}",
        f"Application plate-web-stg: synced to {repo.later[:7]} not {repo.deployed[:7]}",
    ]


def test_a_commit_that_is_not_later_still_fails(repo: Repo):
    history = health_gate.GitHistory(cwd=str(repo.checkout))
    git(repo.checkout, "fetch", "-q", "origin")  # every commit is known here
    apps = {"items": [tracking("plate-web-stg", "main", repo.base),  # the previous commit
                      tracking("plate-api-stg", "main", repo.side)]}  # another branch's
    assert health_gate.application_findings(apps, "stg", repo.deployed, history=history) == (
        health_gate.Findings([
            f"Application plate-api-stg: synced to {repo.side[:7]} not {repo.deployed[:7]} nor "
            "a later commit of main",
            f"Application plate-web-stg: synced to {repo.base[:7]} not {repo.deployed[:7]} nor "
            "a later commit of main",
        ]))


def test_a_pinned_app_must_report_the_deployed_commit_itself(repo: Repo):
    """A tag or a commit does not move: a later commit there is what ran before a rollback."""
    history = health_gate.GitHistory(cwd=str(repo.checkout))
    git(repo.checkout, "fetch", "-q", "origin")
    apps = {"items": [tracking("plate-web-prod", "v1.0.0", repo.later),
                      tracking("plate-api-prod", repo.base, repo.later)]}
    assert health_gate.application_findings(apps, "prod", repo.deployed,
                                            history=history).problems == [
        f"Application plate-api-prod: synced to {repo.later[:7]} not {repo.deployed[:7]}",
        f"Application plate-web-prod: synced to {repo.later[:7]} not {repo.deployed[:7]}",
    ]


def test_multi_source_apps_check_their_git_sources_only(repo: Repo):
    history = health_gate.GitHistory(cwd=str(repo.checkout))
    app_ = tracking("plate-web-stg", "main", "")
    app_["spec"] = {"sources": [
        {"repoURL": "https://charts.example", "chart": "web", "targetRevision": "1.2.3"},
        {"repoURL": "https://git.example/plate.git", "targetRevision": "main", "ref": "values"},
    ]}
    app_["status"]["sync"] = {"status": "Synced", "revisions": ["1.2.3", repo.later]}
    assert health_gate.application_findings({"items": [app_]}, "stg", repo.deployed,
                                            history=history).problems == []


def test_a_checkout_that_cannot_answer_is_a_one_line_problem(tmp_path: Path, repo: Repo):
    not_a_repo = tmp_path / "elsewhere"
    not_a_repo.mkdir()
    apps = {"items": [tracking("plate-web-stg", "main", repo.later)]}
    (problem,) = health_gate.application_findings(
        apps, "stg", repo.deployed, history=health_gate.GitHistory(cwd=str(not_a_repo))).problems
    assert problem == (
        f"Application plate-web-stg: synced to {repo.later[:7]} not {repo.deployed[:7]}; cannot "
        "tell if it is a later commit: git for-each-ref '--format=%(refname)' refs/heads/main "
        "refs/remotes/origin/main: exit 128: fatal: not a git repository (or any of the parent "
        "directories): .git")
    # a commit that exists nowhere: fetched once, then the error of git merge-base
    unknown = "ab" * 20
    history = health_gate.GitHistory(cwd=str(repo.checkout))
    (problem,) = health_gate.application_findings(
        {"items": [tracking("plate-web-stg", "main", unknown)]}, "stg", repo.deployed,
        history=history).problems
    assert problem.endswith(f"cannot tell if it is a later commit: git merge-base --is-ancestor "
                            f"{repo.deployed} {unknown}: exit 128: fatal: Not a valid commit "
                            f"name {unknown}")
    assert history._fetched == {unknown}


# --- the first deploy: apps waiting for their secret values (kubectl stand-in) ------------------

STG_DEPLOYED = "0123456789abcdef0123456789abcdef01234567"


def external_secret(name: str, key: str, *, ready: bool, synced_before: bool = False,
                    pull: bool = False, required: tuple[str, ...] = ()) -> dict:
    """An ExternalSecret as helm/plate-common renders it (`required`: the chart's
    externalSecrets.requiredKeys, `data` entries beside the `dataFrom` extract, deletionPolicy
    Retain; none: Merge), with the status External Secrets v2.9.0 writes
    (apis/externalsecrets/v1/externalsecret_types.go ExternalSecretStatus: refreshTime,
    syncedResourceVersion, conditions, binding; pkg/controllers/externalsecret/
    externalsecret_controller.go): markAsDone sets refreshTime, syncedResourceVersion and Ready
    True, createSecret/updateSecret the binding; markAsFailed (a provider read failing, e.g. a
    required key missing: "cannot find secret data for key") Ready False / SecretSyncedError with
    the message "could not get secret data from provider" and leaves the rest as it was
    (refreshTime null, metav1.Time's zero value, and binding `{}` when it never synced)."""
    spec: dict = {"refreshInterval": "1h",
                  # the app's own store (helm/plate-common)
                  "secretStoreRef": {"kind": "SecretStore", "name": name.removesuffix(
                      "-env").removesuffix("-harbor-pull")},
                  "target": {"name": name, "creationPolicy": "Owner",
                             "deletionPolicy": "Retain" if pull or required else "Merge"}}
    if pull:
        spec["data"] = [{"secretKey": "dockerconfigjson",
                         "remoteRef": {"key": key, "property": "dockerconfigjson"}}]
    else:
        spec["dataFrom"] = [{"extract": {"key": key}}]
        if required:
            spec["data"] = [{"secretKey": k, "remoteRef": {"key": key, "property": k}}
                            for k in required]
    if ready:
        condition = {"type": "Ready", "status": "True", "reason": "SecretSynced",
                     "message": "secret synced"}
    else:
        condition = {"type": "Ready", "status": "False", "reason": "SecretSyncedError",
                     "message": "could not get secret data from provider"}
    condition["lastTransitionTime"] = "2026-01-01T00:05:00Z"
    status: dict = {"conditions": [condition], "refreshTime": None, "binding": {}}
    if ready or synced_before:
        status |= {"refreshTime": "2026-01-01T00:00:00Z", "syncedResourceVersion": "1-abc",
                   "binding": {"name": name}}
    return {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": "plate-stg"}, "spec": spec,
            "status": status}


def secret_store(valid: bool, app: str = "plate-web") -> dict:
    """`app`'s SecretStore with External Secrets v2.9.0's store conditions (secretstore/common.go):
    Ready True / Valid after the provider's Validate, Ready False / InvalidProviderConfig."""
    condition = ({"type": "Ready", "status": "True", "reason": "Valid",
                  "message": "store validated"} if valid else
                 {"type": "Ready", "status": "False", "reason": "InvalidProviderConfig",
                  "message": "unable to validate store"})
    return {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": app, "namespace": "plate-stg"},
            "spec": {"provider": {"vault": {}}},
            "status": {"conditions": [condition], "capabilities": "ReadWrite"}}


@pytest.fixture
def stg(tmp_path: Path, bin_dir: Path) -> Cluster:
    """A new stg environment right after its first `up`: plate-web's values are not in OpenBao
    (its Application waits on the ExternalSecret's sync wave), everything else is fine."""
    cluster = Cluster(tmp_path / "cluster.json", contexts=["plate-stg"])
    for obj in (
        tracking("plate-stg-apps", "main", STG_DEPLOYED),
        tracking("plate-web-stg", "main", STG_DEPLOYED, sync="OutOfSync", health="Degraded"),
        tracking("plate-api-stg", "main", STG_DEPLOYED),
        external_secret("plate-web-env", "stg/plate-web", ready=False),
        external_secret("plate-web-harbor-pull", "stg/harbor-pull", ready=True, pull=True),
        external_secret("plate-api-env", "stg/plate-api", ready=True),
        secret_store(valid=True),
    ):
        cluster.add(obj)
    cluster.install(bin_dir)
    return cluster


STG = {"environment": "stg", "kube_context": "plate-stg"}
WAITING = "first deploy: waiting for plate-web's secret values (bao kv put plate/stg/plate-web " \
    "KEY=value ...)"


def test_first_deploy_names_the_app_waiting_for_its_values_as_pending(stg: Cluster):
    found = health_gate.check_round(STG, STG_DEPLOYED, first_deploy=True)
    assert found == health_gate.Findings(problems=[], pending=[
        "Application plate-web-stg: sync=OutOfSync health=Degraded (first deploy: waits for "
        "plate-web's secret values)",
        WAITING,
    ])
    assert ["kubectl", "--context", "plate-stg", "get",
            "secretstores.external-secrets.io", "plate-web", "-n", "plate-stg", "-o",
            "json"] in stg.calls()


def test_without_the_flag_the_same_state_fails_and_says_why(stg: Cluster):
    assert health_gate.check_round(STG, STG_DEPLOYED) == health_gate.Findings(problems=[
        "Application plate-web-stg: sync=OutOfSync health=Degraded",
        "ExternalSecret plate-stg/plate-web-env: not Ready (could not get secret data from "
        "provider): never synced though OpenBao answers: plate-web's values seem missing (bao kv "
        "put plate/stg/plate-web KEY=value ...; a first deploy: --first-deploy)",
    ])


REQUIRED = ("DATABASE_URL", "API_TOKEN")


def test_first_deploy_names_the_app_and_the_required_keys_it_waits_for(stg: Cluster):
    stg.add(external_secret("plate-web-env", "stg/plate-web", ready=False, required=REQUIRED))
    found = health_gate.check_round(STG, STG_DEPLOYED, first_deploy=True)
    assert found == health_gate.Findings(problems=[], pending=[
        "Application plate-web-stg: sync=OutOfSync health=Degraded (first deploy: waits for "
        "plate-web's secret values)",
        "first deploy: waiting for plate-web's secret values DATABASE_URL, API_TOKEN (bao kv put "
        "plate/stg/plate-web DATABASE_URL=... API_TOKEN=...)",
    ])


def test_a_required_key_missing_after_earlier_syncs_fails_naming_the_app(stg: Cluster):
    """External Secrets keeps the old refreshTime and Secret (markAsFailed): the app runs on its
    old values and a new pod would miss the key; flag or not, it is a failure naming both."""
    stg.add(external_secret("plate-web-env", "stg/plate-web", ready=False, synced_before=True,
                            required=REQUIRED))
    stg.add(tracking("plate-web-stg", "main", STG_DEPLOYED))
    for first_deploy in (True, False):
        found = health_gate.check_round(STG, STG_DEPLOYED, first_deploy=first_deploy)
        assert found == health_gate.Findings(problems=[
            "ExternalSecret plate-stg/plate-web-env: not Ready (could not get secret data from "
            "provider): plate-web waits for its required secret values DATABASE_URL, API_TOKEN "
            "though OpenBao answers (bao kv patch plate/stg/plate-web DATABASE_URL=... "
            "API_TOKEN=...)",
        ], pending=[])


def test_an_app_without_required_keys_synced_from_an_empty_entry_does_not_wait(stg: Cluster):
    """Merge writes the Secret for an empty entry: Ready, the app starts with what exists."""
    stg.add(external_secret("plate-web-env", "stg/plate-web", ready=True))
    stg.add(tracking("plate-web-stg", "main", STG_DEPLOYED))
    assert health_gate.check_round(STG, STG_DEPLOYED) == health_gate.Findings(
        problems=[], pending=[])


@pytest.mark.parametrize(("change", "problem"), [
    # it synced before: its values were there and something broke since
    (external_secret("plate-web-env", "stg/plate-web", ready=False, synced_before=True),
     "ExternalSecret plate-stg/plate-web-env: not Ready (could not get secret data from "
     "provider)"),
    # OpenBao does not answer or the store's login fails: not a missing value
    (secret_store(valid=False),
     "ExternalSecret plate-stg/plate-web-env: not Ready (could not get secret data from "
     "provider)"),
    # the pull secret is written by the Harbor bootstrap Job during `up`, not by people
    (external_secret("plate-web-harbor-pull", "stg/harbor-pull", ready=False, pull=True),
     "ExternalSecret plate-stg/plate-web-harbor-pull: not Ready (could not get secret data from "
     "provider)"),
    # another app unhealthy for its own reasons
    (tracking("plate-api-stg", "main", STG_DEPLOYED, health="Degraded"),
     "Application plate-api-stg: sync=Synced health=Degraded"),
    # the waiting app's revision still counts
    (tracking("plate-web-stg", "v0.9.0", PREVIOUS, sync="OutOfSync", health="Degraded"),
     "Application plate-web-stg: synced to fedcba9 not 0123456"),
])
def test_first_deploy_still_fails_on_real_failures(stg: Cluster, change: dict, problem: str):
    stg.add(change)
    found = health_gate.check_round(STG, STG_DEPLOYED, first_deploy=True)
    assert problem in found.problems


def test_first_deploy_hosts_without_dns_records_are_pending_a_failing_resolver_is_not():
    import socket
    import urllib.error

    def no_record(url: str) -> tuple[int, str]:
        # urllib.request wraps getaddrinfo's error: URLError(gaierror(EAI_NONAME, ...))
        raise urllib.error.URLError(socket.gaierror(socket.EAI_NONAME,
                                                    "Name or service not known"))

    def resolver_down(url: str) -> tuple[int, str]:
        raise urllib.error.URLError(socket.gaierror(socket.EAI_AGAIN,
                                                    "Temporary failure in name resolution"))

    outputs = {"argocd_url": "https://argocd.stg.example"}
    assert health_gate.endpoint_findings(outputs, no_record, first_deploy=True) == (
        health_gate.Findings(pending=[
            "first deploy: waiting for the DNS record of argocd.stg.example "
            "(https://argocd.stg.example/healthz: gaierror: [Errno -2] Name or service not known)"
        ]))
    assert health_gate.endpoint_findings(outputs, no_record) == health_gate.Findings([
        "https://argocd.stg.example/healthz: gaierror: [Errno -2] Name or service not known"])
    assert health_gate.endpoint_findings(outputs, resolver_down, first_deploy=True).problems == [
        "https://argocd.stg.example/healthz: gaierror: [Errno -3] Temporary failure in name "
        "resolution"]


# --- main end to end with the stand-in and a real checkout ---------------------------------------


def stg_pulumi(bin_dir: Path) -> None:
    fake_command(bin_dir, "pulumi", {"output": json.dumps(STG)})


def test_main_passes_the_stg_gate_when_main_moved_on_during_the_deploy(
    repo: Repo, tmp_path: Path, bin_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    cluster = Cluster(tmp_path / "cluster.json", contexts=["plate-stg"])
    for obj in (tracking("plate-stg-apps", "main", repo.later),
                tracking("plate-web-stg", "main", repo.later),
                external_secret("plate-web-env", "stg/plate-web", ready=True)):
        cluster.add(obj)
    cluster.install(bin_dir)
    stg_pulumi(bin_dir)
    monkeypatch.chdir(repo.checkout)
    assert main(["--stack", "stg", "--timeout", "0", "--revision", repo.deployed]) == 0
    assert f"healthy: stg at {repo.deployed[:7]}" in capsys.readouterr().out
    # a commit main never had still fails
    cluster.add(tracking("plate-web-stg", "main", repo.side))
    assert main(["--stack", "stg", "--timeout", "0", "--revision", repo.deployed]) == 1
    assert capsys.readouterr().err == (
        f"UNHEALTHY after 0s:\n  Application plate-web-stg: synced to {repo.side[:7]} not "
        f"{repo.deployed[:7]} nor a later commit of main\n")


def test_main_first_deploy_exits_0_with_the_pending_items_and_1_without_the_flag(
    stg: Cluster, bin_dir: Path, capsys: pytest.CaptureFixture[str],
):
    stg_pulumi(bin_dir)
    assert main(["--stack", "stg", "--timeout", "0", "--revision", STG_DEPLOYED,
                 "--first-deploy"]) == 0
    assert capsys.readouterr().out == (
        "healthy: stg at 0123456: Applications, ExternalSecrets and tools; first deploy, 2 "
        "pending:\n"
        "  pending: Application plate-web-stg: sync=OutOfSync health=Degraded (first deploy: "
        "waits for plate-web's secret values)\n"
        f"  pending: {WAITING}\n")
    assert main(["--stack", "stg", "--timeout", "0", "--revision", STG_DEPLOYED]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "UNHEALTHY after 0s:"
    assert err[1:] == ["  Application plate-web-stg: sync=OutOfSync health=Degraded",
                       "  ExternalSecret plate-stg/plate-web-env: not Ready (could not get secret "
                       "data from provider): never synced though OpenBao answers: plate-web's "
                       "values seem missing (bao kv put plate/stg/plate-web KEY=value ...; a first "
                       "deploy: --first-deploy)"]
