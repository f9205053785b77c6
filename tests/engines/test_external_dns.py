"""external-dns as the program registers it and as the offline render of both stacks sees it.

Verifies, for each committed stack:
- every Ingress host of the stack, the tools' (the charts as rendered) and the apps' (the plate
  charts as their child Applications render them), lies inside external-dns' `--domain-filter`
  and carries the IngressClass of `--ingress-class`, so each gets its record;
- Traefik publishes its Service's address in every Ingress status, where external-dns takes the
  target: the rendered Deployment passes `--providers.kubernetesingress.ingressendpoint.
  publishedservice=traefik/traefik`, and that Service is the LoadBalancer on the stack's fixed
  MetalLB address;
- the Deployment: the pinned image, one replica replaced by Recreate, exactly the args of
  `external_dns.args` for the stack, the credential only through its environment variable from
  the credentials Secret (whose value is a Pulumi secret and the stack's `rfc2136_tsig_secret`),
  the metrics port, probes and resources, waits for its Secret and RBAC binding;
- RBAC: a ClusterRole that may only list and watch networking.k8s.io Ingresses, bound to the
  ServiceAccount the pod runs as;
- network policies (evaluated): Prometheus reaches the metrics port, a pod elsewhere and
  another port of it do not; the namespace enforces the restricted Pod Security level; the
  PodMonitor selects the pod's metrics port.
"""

from __future__ import annotations

import pytest

from components import versions
from components.names import EXTERNAL_DNS_NAMESPACE, PROMETHEUS
from components.tools import external_dns
from tests.engines import test_charts
from tests.harness import STACKS, is_secret, placeholder, recorded, rendered
from tooling import netpol_check
from tooling.netpol_check import Pod

PUBLISHED_SERVICE = "--providers.kubernetesingress.ingressendpoint.publishedservice=traefik/traefik"


def _deployment_args(stack: str) -> list[str]:
    deployment = recorded(stack).one("kubernetes:apps/v1:Deployment", external_dns.NAME)
    (container,) = deployment.plain("spec", "template", "spec", "containers")
    args: list[str] = container["args"]
    return args


def _flag(args: list[str], name: str) -> str:
    (value,) = [a.partition("=")[2] for a in args if a.partition("=")[0] == f"--{name}"]
    return value


def _ingresses(stack: str) -> list[dict]:
    """Every Ingress the stack's tools and apps render."""
    tools = [o.body for o in rendered(stack).objects if o.kind == "Ingress"]
    apps = [o for app in test_charts.APPS for o in test_charts.rendered(app, stack)
            if o["kind"] == "Ingress"]
    assert tools and apps
    return tools + apps


@pytest.mark.parametrize("stack", STACKS)
def test_every_ingress_host_is_inside_the_domain_filter_and_of_the_class(stack: str) -> None:
    args = _deployment_args(stack)
    domain, ingress_class = _flag(args, "domain-filter"), _flag(args, "ingress-class")
    assert domain == rendered(stack).cfg.domain
    hosts = []
    for ingress in _ingresses(stack):
        spec = ingress["spec"]
        where = f"{ingress['metadata'].get('namespace')}/{ingress['metadata']['name']}"
        assert spec.get("ingressClassName") == ingress_class, where
        for host in [r["host"] for r in spec["rules"]] + [
            h for tls in spec.get("tls") or [] for h in tls["hosts"]
        ]:
            assert host.endswith(f".{domain}"), f"{where}: {host}"
            hosts.append(host)
    expected = {f"{h}.{domain}" for h in ("argocd", "harbor", "grafana", "bao")}
    assert expected <= set(hosts)


@pytest.mark.parametrize("stack", STACKS)
def test_traefik_publishes_its_load_balancer_address_in_the_ingress_status(stack: str) -> None:
    objects = rendered(stack).objects
    (deployment,) = [o.body for o in objects if o.kind == "Deployment"
                     and o.namespace == "traefik" and o.name == "traefik"]
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "traefik"]
    assert PUBLISHED_SERVICE in container["args"]
    (service,) = [o.body for o in objects if o.kind == "Service"
                  and o.namespace == "traefik" and o.name == "traefik"]
    assert service["spec"]["type"] == "LoadBalancer"
    address = rendered(stack).cfg.ingress.load_balancer_ip
    assert service["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] == address


@pytest.mark.parametrize("stack", STACKS)
def test_the_deployment(stack: str) -> None:
    rec = recorded(stack)
    deployment = rec.one("kubernetes:apps/v1:Deployment", external_dns.NAME)
    spec = deployment.plain("spec")
    assert (spec["replicas"], spec["strategy"]) == (1, {"type": "Recreate"})
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == versions.EXTERNAL_DNS_IMAGE
    settings = external_dns.Settings.of(rendered(stack).cfg)
    assert settings is not None
    assert container["args"] == external_dns.args(settings)
    assert not [a for a in container["args"] if "secret=" in a or "api-key" in a]
    assert container["env"] == [{
        "name": "EXTERNAL_DNS_RFC2136_TSIG_SECRET",
        "valueFrom": {"secretKeyRef": {
            "name": external_dns.CREDENTIALS_SECRET, "key": "EXTERNAL_DNS_RFC2136_TSIG_SECRET",
        }},
    }]
    assert container["ports"] == [{"name": "http", "containerPort": 7979, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"] == {"requests": {"cpu": "10m", "memory": "64Mi"},
                                      "limits": {"memory": "128Mi"}}
    assert pod["serviceAccountName"] == external_dns.NAME
    secret = rec.one("kubernetes:core/v1:Secret", external_dns.CREDENTIALS_SECRET)
    value = secret.inputs["stringData"]
    assert is_secret(value) or is_secret(value["EXTERNAL_DNS_RFC2136_TSIG_SECRET"])
    assert secret.plain("stringData") == {
        "EXTERNAL_DNS_RFC2136_TSIG_SECRET": placeholder("rfc2136_tsig_secret")
    }
    assert secret.plain("metadata")["namespace"] == EXTERNAL_DNS_NAMESPACE
    assert rec.deps(f"Deployment/{external_dns.NAME}") >= {
        f"Secret/{external_dns.CREDENTIALS_SECRET}", f"ClusterRoleBinding/{external_dns.NAME}",
    }


@pytest.mark.parametrize("stack", STACKS)
def test_rbac_lists_and_watches_ingresses_only(stack: str) -> None:
    rec = recorded(stack)
    role = rec.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", external_dns.NAME)
    assert role.plain("rules") == [{
        "apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["list", "watch"],
    }]
    binding = rec.one(
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", external_dns.NAME
    )
    assert binding.plain("roleRef") == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": external_dns.NAME,
    }
    assert binding.plain("subjects") == [{
        "kind": "ServiceAccount", "name": external_dns.NAME, "namespace": EXTERNAL_DNS_NAMESPACE,
    }]


@pytest.mark.parametrize("stack", STACKS)
def test_only_prometheus_reaches_the_metrics_port(stack: str) -> None:
    objects = [o.body for o in rendered(stack).objects]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"
                and o["metadata"]["namespace"] == EXTERNAL_DNS_NAMESPACE]
    assert sorted(p["metadata"]["name"] for p in policies) == [
        "allow-external-dns-metrics-from-prometheus", "default-deny-ingress",
    ]
    target = Pod(EXTERNAL_DNS_NAMESPACE, dict(external_dns.POD_LABELS),
                 {"http": external_dns.METRICS_PORT})
    # Prometheus' pods as the table names them (test_netpol.py checks they are the real ones)
    prometheus = Pod(PROMETHEUS.namespace, dict(PROMETHEUS.pods), {})
    stranger = Pod("default", {"app": "probe"}, {})
    assert netpol_check.admits(policies, prometheus, target, external_dns.METRICS_PORT)
    assert not netpol_check.admits(policies, stranger, target, external_dns.METRICS_PORT)
    assert not netpol_check.admits(policies, prometheus, target, 8080)
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"
                    and o["metadata"]["name"] == EXTERNAL_DNS_NAMESPACE]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_scrapes_the_metrics_port(stack: str) -> None:
    (monitor,) = [o.body for o in rendered(stack).objects if o.kind == "PodMonitor"
                  and o.namespace == EXTERNAL_DNS_NAMESPACE]
    assert monitor["spec"]["selector"] == {"matchLabels": external_dns.POD_LABELS}
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["http"]
