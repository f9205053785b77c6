"""OpenBao's sign-in for people, as the program wires it (mock runtime).

Verifies: with `identity` (both committed stacks) the client secret reaches the pods only in the
Secret `openbao-identity` (a secret input, never in the init ConfigMap or the chart values), the
chart mounts it and waits for it, and no ServiceAccount `platform-admin` exists; a generated
break-glass password joins that Secret and the init creates its login, whatever
`identity.break_glass` says (it switches the other tools' local accounts);
without `identity` no such Secret exists, the ServiceAccount does and the init binds it.
"""

from __future__ import annotations

import json

import pytest

from components.tools import openbao as openbao_tool
from components.tools.openbao import server as openbao
from tests.harness import with_settings
from tooling.evaluate import Recording, is_secret, placeholder, run_program

SECRET = "kubernetes:core/v1:Secret"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
CHART = "kubernetes:helm.sh/v4:Chart"
CLIENT_SECRET = placeholder("identity_openbao_client_secret")


def _init(rec: Recording) -> str:
    return str(rec.one(CONFIGMAP, "openbao-init").plain("data")["init.hcl"])


def test_the_client_secret_reaches_the_pods_only_in_its_secret(stg: Recording,
                                                              prod: Recording) -> None:
    for rec in (stg, prod):
        secret = rec.one(SECRET, openbao_tool.IDENTITY_SECRET)
        data = secret.inputs["stringData"]
        assert is_secret(data) or is_secret(data[openbao_tool.CLIENT_SECRET_KEY])
        assert secret.plain("stringData") == {
            openbao_tool.CLIENT_SECRET_KEY: CLIENT_SECRET,
            openbao_tool.BREAK_GLASS_KEY: "mock-openbao-break-glass-password",
        }
        assert CLIENT_SECRET not in _init(rec)
        assert CLIENT_SECRET not in json.dumps(rec.one(CHART, "openbao").plain("values"))
        server = rec.one(CHART, "openbao").plain("values")["server"]
        assert {"type": "secret", "name": openbao_tool.IDENTITY_SECRET} in server["extraVolumes"]
        assert f"Secret/{openbao_tool.IDENTITY_SECRET}" in rec.deps("Chart/openbao")
        assert not [r for r in rec.by_type(SERVICE_ACCOUNT) if r.name == "platform-admin"]
        assert 'path = "auth/kubernetes/role/platform-admin"' not in _init(rec)
        assert 'path = "sys/auth/oidc"' in _init(rec)
        # OpenBao's break-glass login exists in both (self-initialisation runs once: one
        # switched on later could never be created), usable only from the pod's loopback
        assert 'path = "sys/auth/break-glass"' in _init(rec)
        assert 'token_bound_cidrs = ["127.0.0.1/32", "::1/128"]' in _init(rec)


@pytest.mark.parametrize("switch", [False, True])
def test_break_glass_has_a_generated_password_and_its_login(switch: bool) -> None:
    rec = run_program("stg", with_settings("stg", {"identity.break_glass": switch}))
    assert [r.name for r in rec.by_type("random:index/randomPassword:RandomPassword")
            if "break-glass" in r.name] == ["openbao-break-glass-password"]
    secret = rec.one(SECRET, openbao_tool.IDENTITY_SECRET)
    assert set(secret.plain("stringData")) == {openbao_tool.CLIENT_SECRET_KEY,
                                               openbao_tool.BREAK_GLASS_KEY}
    assert (is_secret(secret.inputs["stringData"])
            or is_secret(secret.inputs["stringData"][openbao_tool.BREAK_GLASS_KEY]))
    init = _init(rec)
    assert 'path = "auth/break-glass/users/break-glass"' in init
    assert f'"/openbao/userconfig/{openbao_tool.IDENTITY_SECRET}/break-glass-password"' in init
    assert 'path = "platform/data/break-glass/openbao"' in init


def test_without_identity_people_log_in_as_the_service_account() -> None:
    config = with_settings("stg", {"identity": None})
    rec = run_program("stg", config)
    assert not [r for r in rec.by_type(SECRET) if r.name == openbao_tool.IDENTITY_SECRET]
    assert [r.name for r in rec.by_type(SERVICE_ACCOUNT) if r.name == "platform-admin"] == [
        "platform-admin"]
    init = _init(rec)
    assert 'path = "auth/kubernetes/role/platform-admin"' in init
    assert "sys/auth/oidc" not in init
    assert init == openbao.init_config(
        environments=["stg"], apps=["plate-web", "plate-api", "plate-llm", "plate-cache"])
