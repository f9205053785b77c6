"""The CrossGuard policy pack's rules, as plain functions (no Pulumi CLI needed).

Verifies each rule passes a good resource and fails a bad one with its exact message, that the
rules' enforcement levels are as documented, and that everything the program registers for both
stacks passes every rule (so `pulumi preview --policy-pack policy` is green on our own stacks).
"""

from __future__ import annotations

import re

import pytest

from policy import rules
from policy.rules import Resource
from tests.harness import recorded, unwrap

PROD_URN = "urn:pulumi:prod::plate-platform::kubernetes:networking.k8s.io/v1:Ingress::x"


def deployment(image: str) -> Resource:
    return Resource(
        "kubernetes:apps/v1:Deployment",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}},
    )


def chart(version: str, repo: str, values=None, urn=Resource.urn, protect=False) -> Resource:
    return Resource(
        "kubernetes:helm.sh/v4:Chart",
        {
            "chart": "harbor",
            "version": version,
            "repositoryOpts": {"repo": repo},
            "values": values or {},
        },
        urn,
        protect,
    )


def ingress(hosts, tls_hosts, issuer="letsencrypt-production", urn=PROD_URN) -> Resource:
    spec = {"rules": [{"host": h} for h in hosts]}
    if tls_hosts is not None:
        spec["tls"] = [{"hosts": tls_hosts, "secretName": "t"}]
    return Resource(
        "kubernetes:networking.k8s.io/v1:Ingress",
        {"metadata": {"annotations": {"cert-manager.io/cluster-issuer": issuer}}, "spec": spec},
        urn,
    )


def test_chart_pinned():
    assert rules.chart_pinned(chart("1.19.1", "https://helm.goharbor.io")) == []
    assert rules.chart_pinned(chart("1.19.x", "https://charts.example.org")) == [
        "chart 'harbor' is not pinned to an exact version ('1.19.x')",
        "chart 'harbor' comes from 'https://charts.example.org', not an allow-listed repository",
    ]


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("harbor.plate.dev/plate/plate-web:1.0.0", True),
        ("registry.k8s.io/kubectl:v1.34.2", True),
        ("harbor.plate.dev:443/plate/web@sha256:" + "a" * 64, True),
        ("nginx", False),
        ("nginx:latest", False),
        ("harbor.plate.dev:443/plate/web", False),
    ],
)
def test_images_pinned(image, ok):
    assert (rules.images_pinned(deployment(image)) == []) is ok


def test_no_staging_issuer_in_production():
    assert rules.no_staging_issuer_in_production(ingress(["a.plate.dev"], ["a.plate.dev"])) == []
    staging = ingress(["a.plate.dev"], ["a.plate.dev"], issuer="letsencrypt-staging")
    assert rules.no_staging_issuer_in_production(staging) == [
        "Ingress uses the Let's Encrypt staging issuer in production"
    ]
    in_stg = ingress(["a"], ["a"], "letsencrypt-staging", urn="urn:pulumi:stg::p::t::x")
    assert rules.no_staging_issuer_in_production(in_stg) == []
    annotations = {"cert-manager.io/cluster-issuer": "letsencrypt-staging"}
    values = {"server": {"ingress": {"annotations": annotations}}}
    prod_chart = chart("1.0.0", "https://helm.goharbor.io", values, urn=PROD_URN)
    assert rules.no_staging_issuer_in_production(prod_chart) == [
        "chart 'harbor' values reference letsencrypt-staging in production"
    ]


def test_ingress_tls():
    assert rules.ingress_has_tls(ingress(["a.plate.dev"], ["a.plate.dev"])) == []
    assert rules.ingress_has_tls(ingress(["a.plate.dev"], None)) == ["Ingress has no TLS section"]
    assert rules.ingress_has_tls(ingress(["a.plate.dev", "b.plate.dev"], ["a.plate.dev"])) == [
        "Ingress hosts without TLS: b.plate.dev"
    ]


def test_load_balancer_via_metallb():
    svc = "kubernetes:core/v1:Service"
    assert rules.load_balancer_via_metallb(Resource(svc, {"spec": {"type": "LoadBalancer"}})) == []
    bad = Resource(
        svc,
        {
            "spec": {
                "type": "LoadBalancer",
                "loadBalancerIP": "10.0.0.1",
                "loadBalancerClass": "aws",
            }
        },
    )
    assert rules.load_balancer_via_metallb(bad) == [
        "spec.loadBalancerIP is deprecated: use the metallb.io/loadBalancerIPs annotation",
        "loadBalancerClass 'aws' is not served by MetalLB",
    ]


def test_stateful_protected_in_production():
    pvc = "kubernetes:core/v1:PersistentVolumeClaim"
    assert rules.stateful_protected_in_production(Resource(pvc, {}, PROD_URN, protect=True)) == []
    assert rules.stateful_protected_in_production(Resource(pvc, {}, PROD_URN)) == [
        f"{pvc} must be protected in production (protect=True)"
    ]
    assert rules.stateful_protected_in_production(Resource(pvc, {})) == []  # staging


def test_no_plaintext_secrets():
    data = {"DB_PASSWORD": "x", "LOG_LEVEL": "info", "ADMIN_TOKEN": "t",
            # where a secret is served or kept is not a secret (Harbor's core ConfigMap)
            "TOKEN_SERVICE_URL": "http://harbor-core:80/service/token", "SECRET_FILE": "/a/b"}
    cm = Resource("kubernetes:core/v1:ConfigMap", {"data": data})
    assert rules.no_plaintext_secrets(cm) == [
        "ConfigMap key 'DB_PASSWORD' looks like a secret: use a Secret",
        "ConfigMap key 'ADMIN_TOKEN' looks like a secret: use a Secret",
    ]
    secret = Resource(
        "kubernetes:core/v1:Secret", {"stringData": {"HARBOR_ADMIN_PASSWORD": "Harbor12345"}}
    )
    assert rules.no_plaintext_secrets(secret) == [
        "Secret key 'HARBOR_ADMIN_PASSWORD' holds a well-known default credential"
    ]
    values = {"database": {"internal": {"password": "changeit"}}}
    assert rules.no_plaintext_secrets(chart("1.19.1", "https://helm.goharbor.io", values)) == [
        "chart value database.internal.password is a well-known default credential"
    ]
    good = Resource("kubernetes:core/v1:Secret", {"stringData": {"p": "x7Hq2-generated"}})
    assert rules.no_plaintext_secrets(good) == []


def test_enforcement_levels():
    levels = {rule.name: rule.mandatory for rule in rules.RULES}
    assert levels == {
        "helm-chart-pinned": True,
        "images-pinned": True,
        "no-staging-issuer-in-prod": True,
        "ingress-tls": True,
        "loadbalancer-metallb": False,
        "stateful-protected-in-prod": True,
        "no-plaintext-secrets": True,
    }


@pytest.mark.parametrize("stack", ["stg", "prod"])
def test_the_programs_own_resources_pass_every_rule(stack):
    recording = recorded(stack)
    for r in recording.resources:
        resource = Resource(r.type, unwrap(r.inputs), r.urn, r.protect)
        for rule in rules.RULES:
            assert rule.check(resource) == [], (rule.name, r.name)


def test_production_is_the_stack_files_setting_not_the_stack_name():
    pvc = "kubernetes:core/v1:PersistentVolumeClaim"
    live = "urn:pulumi:live::plate-platform::x::y"
    prod = "urn:pulumi:prod::plate-platform::x::y"
    unprotected = (
        "kubernetes:core/v1:PersistentVolumeClaim must be protected in production (protect=True)"
    )
    live_pvc = Resource(pvc, {}, live, False, {"live": True})
    assert rules.stateful_protected_in_production(live_pvc) == [unprotected]
    prod_pvc = Resource(pvc, {}, prod, False, {"prod": False})
    assert rules.stateful_protected_in_production(prod_pvc) == []
    # no committed stack file: held to the production rules
    assert rules.stack_is_production("brand-new", {"prod": True, "stg": False}) is True
    # the committed stacks, from their stack files
    assert (rules.stack_is_production("prod"), rules.stack_is_production("stg")) == (True, False)


def test_policy_data_is_generated_from_the_stack_files():
    from tooling import policy_data

    assert policy_data.main([]) == 0, "policy/platform.json is stale"
    data = policy_data.platform_data({"live": {"production": True}, "prod": {"production": False},
                                      "dev": {}})
    assert data["production_by_stack"] == {"dev": False, "live": True, "prod": False}
    assert "https://helm.goharbor.io" in data["allowed_chart_repos"]


def test_the_pack_imports_nothing_from_the_program(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    policy_dir = Path(rules.__file__).parent
    code = ("import sys, runpy; sys.path.insert(0, sys.argv[1]); import rules; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('components', 'policy')))")
    result = subprocess.run([sys.executable, "-c", code, str(policy_dir)], cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    for module in ("__main__.py", "rules.py"):
        text = (policy_dir / module).read_text()
        assert not re.search(r"sys\.path\.(insert|append)|sys\.path\s*=", text), module
