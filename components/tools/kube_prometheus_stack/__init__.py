"""kube-prometheus-stack: Prometheus, Alertmanager (routing and receivers: `alertmanager`) and
Grafana, with Grafana's admin Secret and the receivers' credentials Secret.

The platform's own scrape targets, alert rules and dashboards are the tools' contributions,
registered by the observability layer once this chart's CRDs exist (`components/observability`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import MonitoringConfig
from components.contracts import ClusterServicesRefs
from components.kube import TierKit, resources
from components.names import MONITORING_NAMESPACE
from components.tools.kube_prometheus_stack import alertmanager

RELEASE = "kube-prometheus-stack"
GRAFANA_ADMIN_SECRET = "grafana-admin"
PROMETHEUS_DB_VOLUME = "prometheus-kube-prometheus-stack-prometheus-db"


def values(
    mon: MonitoringConfig,
    grafana_host: str,
    cluster: ClusterServicesRefs,
    secrets: set[str],
    *,
    back_up_prometheus: bool,
) -> dict[str, Any]:
    """`secrets`: the stack's secret keys that are set (the receivers' credentials among them);
    `back_up_prometheus`: whether Velero copies Prometheus' volume (else it is annotated out)."""
    names = cluster.names

    def volume(size: str) -> dict[str, Any]:
        return {
            "volumeClaimTemplate": {
                "spec": {
                    "storageClassName": names.storage_class,
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": size}},
                }
            }
        }

    return {
        "prometheusOperator": {
            # The webhook certificate's patch Jobs are Helm hooks that v4 Charts skip; let
            # cert-manager issue the certificate instead.
            "admissionWebhooks": {"certManager": {"enabled": True}},
            "resources": resources("50m", "128Mi", "512Mi"),
        },
        "prometheus": {
            "prometheusSpec": {
                "replicas": mon.prometheus_replicas,
                "retention": mon.prometheus_retention,
                "storageSpec": volume(mon.prometheus_storage),
                "resources": resources("250m", "1Gi", "4Gi"),
                # pick up ServiceMonitors from every namespace, not only this release's
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                **({} if back_up_prometheus else {"podMetadata": {"annotations": {
                    "backup.velero.io/backup-volumes-excludes": PROMETHEUS_DB_VOLUME,
                }}}),
            }
        },
        "alertmanager": {
            "config": alertmanager.alertmanager_config(mon.alerts, secrets),
            "alertmanagerSpec": {
                "storage": volume(mon.alertmanager_storage),
                "resources": resources("20m", "64Mi", "256Mi"),
                "secrets": (
                    [alertmanager.RECEIVERS_SECRET]
                    if alertmanager.secret_keys_used(mon.alerts, secrets) else []
                ),
            },
        },
        "grafana": {
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "persistence": {
                "enabled": True,
                "storageClassName": names.storage_class,
                "size": mon.grafana_storage,
            },
            "ingress": {
                "enabled": True,
                "ingressClassName": names.ingress_class,
                "annotations": names.tls_ingress_annotations(),
                "hosts": [grafana_host],
                "tls": [{"secretName": "grafana-tls", "hosts": [grafana_host]}],
            },
            "resources": resources("50m", "128Mi", "512Mi"),
        },
    }


@dataclass(frozen=True)
class KubePrometheusStack:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource
    grafana_admin_password: pulumi.Output[str]


def install(
    kit: TierKit,
    mon: MonitoringConfig,
    grafana_host: str,
    cluster: ClusterServicesRefs,
    secrets: dict[str, pulumi.Output[str]],
    grafana_admin_password: pulumi.Output[str],
    *,
    back_up_prometheus: bool,
) -> KubePrometheusStack:
    """Prometheus, Alertmanager and Grafana. `secrets`: the stack's secrets that are set (the
    receivers' credentials are taken from them)."""
    # privileged: node-exporter needs the host's network and PID namespaces
    ns = kit.namespace(MONITORING_NAMESPACE, "privileged")
    grafana_admin = kit.secret(
        GRAFANA_ADMIN_SECRET, ns,
        {"admin-user": "admin", "admin-password": grafana_admin_password},
    )
    receiver_secrets: list[pulumi.Resource] = []
    if used := alertmanager.secret_keys_used(mon.alerts, set(secrets)):
        receiver_secrets.append(
            kit.secret(
                alertmanager.RECEIVERS_SECRET, ns,
                {alertmanager.SECRET_FILES[key]: secrets[key] for key in used},
            )
        )
    chart = kit.chart(
        RELEASE, ns,
        values(mon, grafana_host, cluster, set(secrets), back_up_prometheus=back_up_prometheus),
        depends_on=[
            grafana_admin, *receiver_secrets, *cluster.tls_and_storage,
            *cluster.cert_manager_ready,
        ],
    )
    return KubePrometheusStack(ns, chart, grafana_admin_password)
