"""What Prometheus scrapes: one ServiceMonitor or PodMonitor per tool, as program resources.

The charts' own monitors are left off: a chart installed before kube-prometheus-stack (all of tier
1, and tier-2 charts racing it) would fail on the missing Prometheus Operator CRDs. DevTools
creates these after kube-prometheus-stack instead, so no tier waits for another; the charts only
switch their metrics Services on (components/tools/values.py). Prometheus selects monitors in every
namespace (`*SelectorNilUsesHelmValues: false`), and the offline render checks that each selector
finds a Service or pod with the named port (tooling/verify.py).

MetalLB 0.16 serves its metrics only over HTTPS (`metricshttps`, a self-signed certificate) and
authorises each scrape with a TokenReview and a SubjectAccessReview of `get /metrics`, which
kube-prometheus-stack's Prometheus ClusterRole grants. Its chart creates a metrics Service only
together with its own ServiceMonitor (which tier 1 cannot have), so the program adds the Service
(`service_port`), and Prometheus presents its own ServiceAccount token (`token_auth`), as the
chart's ServiceMonitor does. The certificate is not verified (MetalLB generates it; there is no CA
to pin): the token goes to the pod IPs Kubernetes lists for the Service, nowhere else.

csi-driver-nfs serves no metrics at all (its 4.x chart runs the CSI sidecars without metrics
endpoints and offers no value to add them); its volumes are watched through the kubelet's volume
stats and its workloads through kube-state-metrics (components/observability/alerts.py,
plate-cluster).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ScrapeTarget:
    name: str  # the monitor's name; Prometheus' `job` label is the Service's name
    namespace: str
    kind: Literal["ServiceMonitor", "PodMonitor"]
    match_labels: dict[str, str]
    port: str
    path: str = "/metrics"
    params: dict[str, list[str]] = field(default_factory=dict)
    token_auth: bool = False  # HTTPS with Prometheus' ServiceAccount token (MetalLB)
    service_port: int | None = None  # the program creates the headless Service `name` for it

    def spec(self) -> dict[str, Any]:
        endpoint: dict[str, Any] = {"port": self.port, "path": self.path, "interval": "30s"}
        if self.params:
            endpoint["params"] = self.params
        if self.token_auth:
            endpoint |= {
                "scheme": "https",
                "bearerTokenFile": SERVICE_ACCOUNT_TOKEN,
                "tlsConfig": {"insecureSkipVerify": True},
            }
        key = "endpoints" if self.kind == "ServiceMonitor" else "podMetricsEndpoints"
        return {"selector": {"matchLabels": self.match_labels}, key: [endpoint]}



SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def scrape_targets(
    argocd_namespace: str, traefik: bool, velero: bool = False
) -> list[ScrapeTarget]:
    """Every tool Prometheus scrapes (Traefik and Velero only when the stack installs them)."""
    targets = [
        # controller and speakers (9120: the chart's prometheus.metricsPort)
        ScrapeTarget(
            "metallb-metrics", "metallb-system", "ServiceMonitor",
            {"app.kubernetes.io/name": "metallb", "app.kubernetes.io/instance": "metallb"},
            "metricshttps", token_auth=True, service_port=9120,
        ),
        ScrapeTarget(
            "cert-manager", "cert-manager", "ServiceMonitor",
            {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"},
            "http-metrics",
        ),
        # the application controller, server and repo server metrics Services
        ScrapeTarget(
            "argo-cd", argocd_namespace, "ServiceMonitor",
            {"app.kubernetes.io/instance": "argo-cd"}, "http-metrics",
        ),
        # core, registry, jobservice and the exporter (harbor_up)
        ScrapeTarget(
            "harbor", "harbor", "ServiceMonitor",
            {"app.kubernetes.io/instance": "harbor"}, "http-metrics",
        ),
        # every pod, sealed ones included (they answer /v1/sys/metrics without a token)
        ScrapeTarget(
            "openbao", "openbao", "ServiceMonitor",
            {"app.kubernetes.io/instance": "openbao", "openbao-internal": "true"}, "http",
            path="/v1/sys/metrics", params={"format": ["prometheus"]},
        ),
        ScrapeTarget(
            "fluentd", "logging", "ServiceMonitor", {"app.kubernetes.io/name": "fluentd"},
            "metrics",
        ),
        ScrapeTarget(
            "external-secrets", "external-secrets", "ServiceMonitor",
            {"app.kubernetes.io/name": "external-secrets"}, "metrics",
        ),
    ]
    if velero:
        targets += [
            ScrapeTarget(
                "velero", "velero", "ServiceMonitor",
                {"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": "velero"},
                "http-monitoring",
            ),
            # the node-agent's file-system backups and restores (it has no Service)
            ScrapeTarget(
                "velero-node-agent", "velero", "PodMonitor", {"name": "node-agent"},
                "http-monitoring",
            ),
        ]
    if traefik:
        targets.append(
            ScrapeTarget(
                "traefik", "traefik", "PodMonitor", {"app.kubernetes.io/name": "traefik"},
                "metrics",
            )
        )
    return targets
