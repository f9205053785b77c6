"""What Prometheus scrapes: one ServiceMonitor or PodMonitor per tool, as program resources.

The charts' own monitors are left off: a chart installed before kube-prometheus-stack (all of tier
1, and tier-2 charts racing it) would fail on the missing Prometheus Operator CRDs. DevTools
creates these after kube-prometheus-stack instead, so no tier waits for another; the charts only
switch their metrics Services on (each tool's `values`); each tool names its targets
(`scrape_targets` in `components/tools/<tool>`). Prometheus selects monitors in every
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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pulumi

    from components.kube import TierKit


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
    # HTTPS verified against the CA in this ConfigMap (key ca.crt, in `namespace`), for this
    # server name (the certificate's, where Prometheus dials pod addresses)
    tls_ca_configmap: str | None = None
    tls_server_name: str | None = None

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
        if self.tls_ca_configmap is not None:
            # Ref: kube-prometheus-stack 88.5.3 charts/crds/crds/crd-servicemonitors.yaml
            # (endpoints[].tlsConfig.ca.configMap, serverName; the ConfigMap in the monitor's
            # namespace)
            endpoint |= {"scheme": "https", "tlsConfig": {
                "ca": {"configMap": {"name": self.tls_ca_configmap, "key": "ca.crt"}},
                **({"serverName": self.tls_server_name} if self.tls_server_name else {}),
            }}
        key = "endpoints" if self.kind == "ServiceMonitor" else "podMetricsEndpoints"
        return {"selector": {"matchLabels": self.match_labels}, key: [endpoint]}



SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def register(
    kit: TierKit, targets: Sequence[ScrapeTarget], after: Sequence[pulumi.Resource]
) -> tuple[list[pulumi.Resource], list[pulumi.Resource]]:
    """The monitors of `targets` (and the headless Services some need), after `after` (the
    Prometheus Operator's CRDs). Returns (services, monitors)."""
    import pulumi_kubernetes as k8s

    services: list[pulumi.Resource] = [
        k8s.core.v1.Service(
            f"{target.name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=target.name, namespace=target.namespace, labels=target.match_labels
            ),
            # headless: the pods matching the monitor's labels, on the named port
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                selector=target.match_labels,
                ports=[k8s.core.v1.ServicePortArgs(
                    name=target.port, port=target.service_port, target_port=target.port
                )],
            ),
            opts=kit.opts,
        )
        for target in targets
        if target.service_port is not None
    ]
    monitors: list[pulumi.Resource] = [
        kit.custom_resource(
            f"{target.name}-{target.kind.lower()}", "monitoring.coreos.com/v1", target.kind,
            k8s.meta.v1.ObjectMetaArgs(name=target.name, namespace=target.namespace),
            target.spec(),
            after,
        )
        for target in targets
    ]
    return services, monitors
