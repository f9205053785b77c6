"""kube-prometheus-stack: Prometheus, Alertmanager (routing and receivers: `alertmanager`) and
Grafana, with Grafana's admin Secret, its OIDC client Secret (sign-in through the organisation's
provider, role from the groups: `grafana_sign_in`) and the receivers' credentials Secret.

The platform's own scrape targets, alert rules and dashboards are the tools' contributions,
registered by the observability layer once this chart's CRDs exist (`components/observability`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import IdentityConfig, MonitoringConfig
from components.contracts import ClusterNames, ClusterServicesRefs
from components.kube import TierKit, as_secret, resources
from components.names import MONITORING_NAMESPACE, PROMETHEUS
from components.netpol import API_SERVER, Allowance, Peer
from components.tools import cert_manager, oauth2_proxy
from components.tools.kube_prometheus_stack import alertmanager

RELEASE = "kube-prometheus-stack"
GRAFANA_ADMIN_SECRET = "grafana-admin"
PROMETHEUS_DB_VOLUME = "prometheus-kube-prometheus-stack-prometheus-db"
GRAFANA_OIDC_SECRET = "grafana-oidc"
GRAFANA_OIDC_SECRET_KEY = "client-secret"
# the environment variable Grafana's configuration reads the client secret from (`$__env{}`); not
# GF_-prefixed, which Grafana would read as a setting of its own
GRAFANA_OIDC_ENV = "PLATE_OIDC_CLIENT_SECRET"
GRAFANA_ROLES = (("admins", "Admin"), ("developers", "Editor"), ("viewers", "Viewer"))


def _jmespath_string(value: str) -> str:
    """A JMESPath JSON literal of the string `value` (backticks escaped): unlike a raw string,
    it has one well-defined escape for every character."""
    return "`" + json.dumps(value).replace("`", "\\`") + "`"


def grafana_role_path(identity: IdentityConfig) -> str:
    """`role_attribute_path`: the JMESPath Grafana evaluates on the ID token's claims (and the
    userinfo answer) to pick the person's role: the first of admins -> Admin, developers ->
    Editor, viewers -> Viewer whose group the groups claim lists; null otherwise, which with
    `role_attribute_strict` refuses the sign-in. A token without the claim reads as no groups
    (an empty list literal), not as an error."""
    claim = f"({json.dumps(identity.groups_claim)} || `[]`)"
    terms = [
        f"contains({claim}, {_jmespath_string(group)}) && '{role}'"
        for key, role in GRAFANA_ROLES
        for group in getattr(identity.groups, key)
    ]
    # no match: null (not `false`), read as "no role" whatever the reader's type handling
    return " || ".join([*terms, "`null`"])


def grafana_sign_in(identity: IdentityConfig | None, host: str) -> dict[str, Any]:
    """Grafana's sign-in settings (subchart values): generic OAuth through the organisation's
    provider, the client secret from the environment (the chart refuses a plain one), the role
    from the groups and nobody without one; the login form only while `identity.break_glass`.
    Ref: grafana.com/docs/grafana/v13.2/setup-grafana/configure-access/configure-authentication/
    generic-oauth/ (Grafana 13.2 is the chart's appVersion); its configuration file has no OIDC
    discovery, hence `identity.endpoints`."""
    if identity is None:
        return {}
    return {
        "envValueFrom": {GRAFANA_OIDC_ENV: {"secretKeyRef": {
            "name": GRAFANA_OIDC_SECRET, "key": GRAFANA_OIDC_SECRET_KEY,
        }}},
        "grafana.ini": {
            # the callback URL Grafana sends to the provider: https://<host>/login/generic_oauth
            "server": {"root_url": f"https://{host}/"},
            "auth": {"disable_login_form": not identity.break_glass},
            "auth.generic_oauth": {
                "enabled": True,
                "name": "SSO",
                "client_id": identity.clients.grafana,
                "client_secret": f"$__env{{{GRAFANA_OIDC_ENV}}}",
                "scopes": " ".join(identity.scopes),
                "auth_url": identity.endpoints.authorization,
                "token_url": identity.endpoints.token,
                "api_url": identity.endpoints.userinfo,
                "use_pkce": True,
                "login_attribute_path": identity.username_claim,
                "role_attribute_path": grafana_role_path(identity),
                "role_attribute_strict": True,
                "allow_sign_up": True,
            },
        },
    }


def ui_ingress_values(names: ClusterNames, ui: str, host: str) -> dict[str, Any]:
    """The chart's Ingress for Prometheus' or Alertmanager's UI (`ui`), every request first
    through the sign-in (Traefik forwardAuth to `oauth2_proxy`)."""
    return {"ingress": {
        "enabled": True,
        "ingressClassName": names.ingress_class,
        "annotations": {**names.tls_ingress_annotations(), **oauth2_proxy.INGRESS_ANNOTATIONS},
        "hosts": [host],
        "paths": ["/"],
        "pathType": "Prefix",
        "tls": [{"secretName": oauth2_proxy.tls_secret(ui), "hosts": [host]}],
    }}


def grafana_values(
    mon: MonitoringConfig, grafana_host: str, names: ClusterNames,
    identity: IdentityConfig | None,
) -> dict[str, Any]:
    """The grafana subchart's values: its admin Secret, volume, Ingress, sidecars and sign-in."""
    return {
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
        # the sidecars load the program's dashboard and the chart's datasource ConfigMaps,
        # all in this namespace: a Role here instead of a ClusterRole that reads every
        # Secret of the cluster (the chart's default watches all namespaces), and ConfigMaps
        # only. Ref: kube-prometheus-stack 87.x charts/grafana (12.11.1) values.yaml
        # `rbac.namespaced`, `sidecar.*.searchNamespace`/`resource`; templates/role.yaml
        "rbac": {"namespaced": True},
        "sidecar": {
            "dashboards": {"searchNamespace": [MONITORING_NAMESPACE], "resource": "configmap"},
            "datasources": {"searchNamespace": [MONITORING_NAMESPACE],
                            "resource": "configmap"},
        },
        **grafana_sign_in(identity, grafana_host),
    }


def values(
    mon: MonitoringConfig,
    grafana_host: str,
    cluster: ClusterServicesRefs,
    secrets: set[str],
    *,
    back_up_prometheus: bool,
    identity: IdentityConfig | None = None,
    ui_hosts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`secrets`: the stack's secret keys that are set (the receivers' credentials among them);
    `back_up_prometheus`: whether Velero copies Prometheus' volume (else it is annotated out);
    `identity`: people sign in to Grafana through the provider; `ui_hosts`: Prometheus' and
    Alertmanager's hosts ({"prometheus": ..., "alertmanager": ...}), exposed through Ingresses
    behind the sign-in proxy (`oauth2_proxy`); None: not exposed at all."""
    names = cluster.names

    def ui_ingress(ui: str) -> dict[str, Any]:
        return {} if ui_hosts is None else ui_ingress_values(names, ui, ui_hosts[ui])

    def volume(size: str, storage_class: str | None) -> dict[str, Any]:
        return {
            "volumeClaimTemplate": {
                "spec": {
                    "storageClassName": storage_class or names.storage_class,
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
            **ui_ingress("prometheus"),
            "prometheusSpec": {
                "replicas": mon.prometheus_replicas,
                "retention": mon.prometheus_retention,
                "storageSpec": volume(mon.prometheus_storage, mon.prometheus_storage_class),
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
            **ui_ingress("alertmanager"),
            "config": alertmanager.alertmanager_config(mon.alerts, secrets),
            "alertmanagerSpec": {
                "storage": volume(mon.alertmanager_storage, mon.alertmanager_storage_class),
                "resources": resources("20m", "64Mi", "256Mi"),
                "secrets": (
                    [alertmanager.RECEIVERS_SECRET]
                    if alertmanager.secret_keys_used(mon.alerts, secrets) else []
                ),
                "configMaps": alertmanager.config_maps(mon.alerts),
                # the links in notifications (the chart would write http:// for its Ingress)
                **({"externalUrl": f"https://{ui_hosts['alertmanager']}/"} if ui_hosts else {}),
            },
        },
        "grafana": grafana_values(mon, grafana_host, names, identity),
        # no `kube_secret_*` series (no alert or dashboard uses them), and so no right to list
        # every Secret of the cluster. Ref: kube-prometheus-stack charts/kube-state-metrics
        # (8.4.0) values.yaml `collectorsExclude`, templates/role.yaml
        "kube-state-metrics": {"collectorsExclude": ["secrets"]},
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
    identity: IdentityConfig | None = None,
    ui_hosts: dict[str, str] | None = None,
) -> KubePrometheusStack:
    """Prometheus, Alertmanager and Grafana. `secrets`: the stack's secrets that are set (the
    receivers' credentials and, with `identity`, Grafana's OIDC client secret among them)."""
    # privileged: node-exporter needs the host's network and PID namespaces
    ns = kit.namespace(MONITORING_NAMESPACE, "privileged")
    grafana_admin = kit.secret(
        GRAFANA_ADMIN_SECRET, ns,
        {"admin-user": "admin", "admin-password": grafana_admin_password},
    )
    sign_in = [] if identity is None else [kit.secret(
        GRAFANA_OIDC_SECRET, ns,
        {GRAFANA_OIDC_SECRET_KEY: as_secret(secrets["identity_grafana_client_secret"])},
    )]
    receiver_secrets: list[pulumi.Resource] = []
    if used := alertmanager.secret_keys_used(mon.alerts, set(secrets)):
        receiver_secrets.append(
            kit.secret(
                alertmanager.RECEIVERS_SECRET, ns,
                {alertmanager.SECRET_FILES[key]: secrets[key] for key in used},
            )
        )
    email = mon.alerts.email
    if email is not None and email.ca_bundle is not None:  # alertmanager.config_maps mounts it
        receiver_secrets.append(cert_manager.ca_configmap(
            kit, ns, MONITORING_NAMESPACE, email.ca_bundle, alertmanager.SMTP_CA_CONFIGMAP
        ))
    chart = kit.chart(
        RELEASE, ns,
        values(mon, grafana_host, cluster, set(secrets), back_up_prometheus=back_up_prometheus,
               identity=identity, ui_hosts=ui_hosts),
        depends_on=[
            grafana_admin, *sign_in, *receiver_secrets, *cluster.tls_and_storage,
            *cluster.cert_manager_ready,
        ],
    )
    return KubePrometheusStack(ns, chart, grafana_admin_password)


# Who runs in `monitoring`, as policies select them: the chart's labels; Prometheus' and
# Alertmanager's pods are the operator's (the chart's Services for them select these labels).
GRAFANA = Peer(MONITORING_NAMESPACE, {"app.kubernetes.io/name": "grafana",
                                      "app.kubernetes.io/instance": RELEASE})
ALERTMANAGER = Peer(MONITORING_NAMESPACE, {"app.kubernetes.io/name": "alertmanager"})
# Ref: prometheus-operator v0.93.0 (the chart's appVersion is v0.93.1)
# pkg/alertmanager/statefulset.go (web 9093, cluster mesh 9094 TCP and UDP) and
# pkg/operator/config_reloader.go (the config reloader's `reloader-web` 8080)
PROMETHEUS_PORT, ALERTMANAGER_PORT, MESH_PORT, RELOADER_PORT = 9090, 9093, 9094, 8080


def allowances(ingress: Peer) -> list[Allowance]:
    """Connections into monitoring. Prometheus and Alertmanager admit only Grafana, Prometheus
    and the ingress controller (their UIs, behind the sign-in); node-exporter runs on the host
    network, where policies do not apply."""
    ns = MONITORING_NAMESPACE
    operator = {"app": f"{RELEASE}-operator", "release": RELEASE}
    state_metrics = {"app.kubernetes.io/name": "kube-state-metrics",
                     "app.kubernetes.io/instance": RELEASE}
    return [
        Allowance("grafana-from-ingress", ns, dict(GRAFANA.pods), ("grafana",), (ingress,),
                  "Grafana's UI through the ingress controller"),
        Allowance("grafana-metrics-from-prometheus", ns, dict(GRAFANA.pods), ("grafana",),
                  (PROMETHEUS,), "scrapes Grafana (the chart's ServiceMonitor)"),
        Allowance("kube-state-metrics-from-prometheus", ns, state_metrics, ("http",),
                  (PROMETHEUS,), "scrapes kube-state-metrics (the chart's ServiceMonitor)"),
        Allowance("prometheus-operator-webhook-from-api-server", ns, operator, ("https",),
                  (API_SERVER,), "admission of PrometheusRules and AlertmanagerConfigs"),
        Allowance("prometheus-operator-metrics-from-prometheus", ns, operator, ("https",),
                  (PROMETHEUS,), "scrapes the operator (the chart's ServiceMonitor)"),
        Allowance("prometheus-from-monitoring", ns, dict(PROMETHEUS.pods), (PROMETHEUS_PORT,),
                  (GRAFANA, PROMETHEUS, ingress),
                  "Grafana's data source, Prometheus' self-scrape, the UI through the ingress"),
        Allowance("prometheus-reloader-from-prometheus", ns, dict(PROMETHEUS.pods),
                  (RELOADER_PORT,), (PROMETHEUS,), "scrapes the config reloader"),
        Allowance("alertmanager-from-monitoring", ns, dict(ALERTMANAGER.pods),
                  (ALERTMANAGER_PORT,), (PROMETHEUS, GRAFANA, ingress),
                  "Prometheus sends alerts and scrapes, Grafana's data source, the UI through "
                  "the ingress"),
        Allowance("alertmanager-reloader-from-prometheus", ns, dict(ALERTMANAGER.pods),
                  (RELOADER_PORT,), (PROMETHEUS,), "scrapes the config reloader"),
        Allowance("alertmanager-peers", ns, dict(ALERTMANAGER.pods), (MESH_PORT,),
                  (ALERTMANAGER,), "the cluster mesh of several replicas (gossip)",
                  udp=(MESH_PORT,)),
    ]
