"""Fluentd: collects every container's log on every node (DaemonSet) and forwards it to the
stack's log backend; its output password comes from a Secret, never the ConfigMap; a backend
whose certificate a private CA signed is verified against `output.ca_bundle`, mounted from the
ConfigMap `fluentd-output-ca`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import FluentdConfig
from components.kube import TierKit, resources
from components.names import LOGGING_NAMESPACE, PROMETHEUS
from components.netpol import Allowance
from components.observability.monitors import ScrapeTarget
from components.tools import cert_manager

OUTPUT_SECRET = "fluentd-output"
OUTPUT_CA_CONFIGMAP = "fluentd-output-ca"  # key ca.crt: dev_tools.fluentd.output.ca_bundle
OUTPUT_CA_DIR = "/etc/fluent/output-ca"
_VARIANT = {
    "elasticsearch": "elasticsearch8",
    "opensearch": "opensearch",
    "forward": "elasticsearch8",
}


def output_config(fluentd: FluentdConfig, environment: str) -> str:
    """The `04_outputs.conf` of the fluentd chart for the configured destination.

    The password is read from the environment (`FLUENT_OUTPUT_PASSWORD`, from a Secret) so it is
    never in the ConfigMap.
    """
    out = fluentd.output
    buffer = (
        "    <buffer>\n"
        "      @type file\n"
        "      path /var/log/fluentd-buffers/output.buffer\n"
        "      flush_interval 5s\n"
        "      retry_max_interval 30\n"
        "      retry_forever true\n"
        "      overflow_action block\n"
        "    </buffer>\n"
    )
    if out.type == "forward":
        body = (
            "    @type forward\n"
            f"    <server>\n      host {out.host}\n      port {out.port}\n    </server>\n"
        )
    else:
        body = (
            f"    @type {out.type}\n"
            f'    host "{out.host}"\n'
            f"    port {out.port}\n"
            f"    scheme {out.scheme}\n"
            "    logstash_format true\n"
            f'    logstash_prefix "{out.index_prefix}-{environment}"\n'
        )
        if out.user:
            body += f'    user "{out.user}"\n    password "#{{ENV[\'FLUENT_OUTPUT_PASSWORD\']}}"\n'
        if out.ca_bundle is not None:
            # Ref: uken/fluent-plugin-elasticsearch README.md "Client/host certificate options"
            # and fluent/fluent-plugin-opensearch README.md (`ca_file`, `ssl_verify`)
            body += f"    ssl_verify true\n    ca_file {OUTPUT_CA_DIR}/ca.crt\n"
    return "<label @OUTPUT>\n  <match **>\n" + body + buffer + "  </match>\n</label>"


def values(fluentd: FluentdConfig, environment: str, with_password: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "DaemonSet",
        "variant": _VARIANT[fluentd.output.type],
        # PodSecurityPolicy was removed in Kubernetes 1.25.
        "podSecurityPolicy": {"enabled": False},
        "resources": resources("100m", "256Mi", "512Mi"),
        "fileConfigs": {"04_outputs.conf": output_config(fluentd, environment)},
        # the chart's own Grafana dashboard: off, `dashboard` has the platform's (a boolean: the
        # template tests truthiness, and the chart's default is the string "true")
        "dashboards": {"enabled": False},
    }
    if fluentd.output.ca_bundle is not None:
        # Ref: fluent/helm-charts fluentd-0.6.0 charts/fluentd/templates/_pod.tpl (`volumes`,
        # `volumeMounts` appended to the pod's and the container's)
        out["volumes"] = [
            {"name": "output-ca", "configMap": {"name": OUTPUT_CA_CONFIGMAP}},
        ]
        out["volumeMounts"] = [
            {"name": "output-ca", "mountPath": OUTPUT_CA_DIR, "readOnly": True},
        ]
    if with_password:
        out["env"] = [
            {
                "name": "FLUENT_OUTPUT_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": OUTPUT_SECRET, "key": "password"}},
            }
        ]
    return out


@dataclass(frozen=True)
class Fluentd:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource


def install(
    kit: TierKit, fluentd: FluentdConfig, environment: str,
    output_password: pulumi.Output[str] | None,
) -> Fluentd:
    # privileged: reads container logs from the node's /var/log (hostPath)
    ns = kit.namespace(LOGGING_NAMESPACE, "privileged")
    waits: list[pulumi.Resource] = []
    if output_password is not None:
        waits.append(kit.secret(OUTPUT_SECRET, ns, {"password": output_password}))
    if fluentd.output.ca_bundle is not None:
        waits.append(cert_manager.ca_configmap(
            kit, ns, LOGGING_NAMESPACE, fluentd.output.ca_bundle, OUTPUT_CA_CONFIGMAP
        ))
    chart = kit.chart(
        "fluentd", ns,
        values(fluentd, environment, with_password=output_password is not None),
        depends_on=waits,
    )
    return Fluentd(ns, chart)


def scrape_targets() -> list[ScrapeTarget]:
    return [
        ScrapeTarget(
            "fluentd", LOGGING_NAMESPACE, "ServiceMonitor", {"app.kubernetes.io/name": "fluentd"},
            "metrics",
        ),
    ]


def allowances() -> list[Allowance]:
    """Connections into logging: only Prometheus. Fluentd reads the node's log files (hostPath)
    and has no network input (no `forward` or `http` source in its configuration)."""
    return [
        Allowance("fluentd-metrics-from-prometheus", LOGGING_NAMESPACE,
                  {"app.kubernetes.io/name": "fluentd"}, ("metrics",), (PROMETHEUS,),
                  "scrapes every node's Fluentd (monitors.py)"),
    ]
