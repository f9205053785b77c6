"""The break-glass escrow as the program wires it (mock runtime).

Verifies, for both committed stacks: the Secret `break-glass-credentials` in openbao holds exactly
the three tools' `admin` passwords (the same values as the tools' own Secrets and Argo CD's
generated password), secret inputs; the escrow Job runs in openbao as ServiceAccount
`break-glass-escrow` with the pod label OpenBao's network policy admits, mounts that Secret and
the internal CA, waits for OpenBao's chart and the CA, and carries no password (no secret input);
its revision is a `random` UUID whose keepers are the three passwords (secret). A rotated
password changes the keepers and so the Job's pod template (a new Job: it runs again), and only
then; with the shamir seal there is no escrow.
"""

from __future__ import annotations

import json
from typing import Any

from components.tools import openbao as openbao_tool
from components.tools.openbao import escrow
from tests.harness import recorded, with_settings
from tooling.evaluate import Recording, is_secret, placeholder_secrets, run_program, stack_config

SECRET = "kubernetes:core/v1:Secret"
JOB = "kubernetes:batch/v1:Job"
UUID = "random:index/randomUuid:RandomUuid"


def _job(rec: Recording) -> Any:
    return rec.one(JOB, "break-glass-escrow")


def _env(rec: Recording) -> dict[str, str]:
    container = _job(rec).plain("spec")["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def _secrets_in(value: Any) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(_secrets_in(v) for v in value.values())
    if isinstance(value, list):
        return any(_secrets_in(v) for v in value)
    return False


def _passwords(rec: Recording) -> dict[str, str]:
    return {
        "argocd": "mock-argocd-admin-password",
        "grafana": rec.one(SECRET, "grafana-admin").plain("stringData")["admin-password"],
        "harbor": rec.one(SECRET, "harbor-admin").plain("stringData")["HARBOR_ADMIN_PASSWORD"],
    }


def test_the_secret_holds_the_three_admin_passwords_as_secrets() -> None:
    for stack in ("stg", "prod"):
        rec = recorded(stack)
        secret = rec.one(SECRET, escrow.CREDENTIALS_SECRET)
        assert secret.plain("metadata")["namespace"] == "openbao"
        assert secret.plain("stringData") == _passwords(rec)
        data = secret.inputs["stringData"]
        assert _secrets_in(secret.inputs)
        for tool in ("argocd", "grafana", "harbor"):
            assert is_secret(data) or is_secret(data[tool]), (stack, tool)
        revision = rec.one(UUID, "break-glass-escrow-revision")
        assert revision.plain("keepers") == _passwords(rec)
        keepers = revision.inputs["keepers"]
        assert is_secret(keepers) or all(is_secret(v) for v in keepers.values())


def test_the_job_waits_for_openbao_and_carries_no_password() -> None:
    for stack in ("stg", "prod"):
        rec = recorded(stack)
        job = _job(rec)
        spec = job.plain("spec")
        pod = spec["template"]
        assert job.plain("metadata")["namespace"] == "openbao"
        assert pod["metadata"]["labels"] == openbao_tool.ESCROW_POD_LABELS
        assert pod["spec"]["serviceAccountName"] == "break-glass-escrow"
        assert {"Chart/openbao", f"Secret/{escrow.CREDENTIALS_SECRET}",
                "ServiceAccount/break-glass-escrow", "ConfigMap/break-glass-escrow-script",
                "ConfigMap/plate-internal-ca-openbao",
                "RandomUuid/break-glass-escrow-revision"} <= rec.deps("Job/break-glass-escrow")
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["credentials"]["secret"] == {"secretName": escrow.CREDENTIALS_SECRET}
        assert volumes["internal-ca"]["configMap"] == {"name": "plate-internal-ca"}
        env = _env(rec)
        assert {k: env[k] for k in ("BAO_ADDR", "BAO_CACERT", "CREDENTIALS_DIR")} == {
            "BAO_ADDR": "https://openbao-active.openbao.svc:8200", "BAO_CACERT": "/ca/ca.crt",
            "CREDENTIALS_DIR": "/credentials"}
        assert not _secrets_in(job.inputs)
        text = json.dumps(job.plain("spec"))
        for password in _passwords(rec).values():
            assert password not in text
        assert (pod["spec"]["containers"][0]["image"], spec["backoffLimit"]) == (
            "quay.io/openbao/openbao:2.6.2", 4)


def test_a_rotated_password_reruns_the_job_and_nothing_else_does() -> None:
    # Harbor's password a stack secret (not generated), changed between two runs
    generated = [k for k in stack_config("prod")["generated_secrets"]
                 if k != "harbor_admin_password"]
    config = with_settings("prod", {"generated_secrets": generated})
    base = {**placeholder_secrets(config), "harbor_admin_password": "harbor-one"}
    first = run_program("prod", config, base)
    again = run_program("prod", config, base)
    rotated = run_program("prod", config, {**base, "harbor_admin_password": "rotated-harbor"})
    assert _env(first)["CREDENTIALS_REVISION"] == _env(again)["CREDENTIALS_REVISION"]
    assert _env(rotated)["CREDENTIALS_REVISION"] != _env(first)["CREDENTIALS_REVISION"]
    assert rotated.one(SECRET, escrow.CREDENTIALS_SECRET).plain("stringData")[
        "harbor"] == "rotated-harbor"
    # the rest of the Job is the same: the revision alone replaces it
    def without_revision(rec: Recording) -> Any:
        spec = _job(rec).plain("spec")
        container = spec["template"]["spec"]["containers"][0]
        container["env"] = [e for e in container["env"] if e["name"] != "CREDENTIALS_REVISION"]
        return spec
    assert without_revision(rotated) == without_revision(first)


def test_no_escrow_with_the_shamir_seal() -> None:
    rec = run_program("stg", with_settings("stg", {"dev_tools.openbao.seal": "shamir"}))
    assert not [r for r in rec.by_type(JOB) if r.name == "break-glass-escrow"]
    assert not [r for r in rec.by_type(SECRET) if r.name == escrow.CREDENTIALS_SECRET]
