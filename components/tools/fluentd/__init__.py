"""Fluentd: collects every container's log on every node (DaemonSet) and forwards it to the
stack's log backend; its output password comes from a Secret, never the ConfigMap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import FluentdConfig
from components.kube import TierKit, resources
from components.names import LOGGING_NAMESPACE
from components.observability.monitors import ScrapeTarget

OUTPUT_SECRET = "fluentd-output"
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
    password_secret: list[pulumi.Resource] = []
    if output_password is not None:
        password_secret.append(kit.secret(OUTPUT_SECRET, ns, {"password": output_password}))
    chart = kit.chart(
        "fluentd", ns,
        values(fluentd, environment, with_password=bool(password_secret)),
        depends_on=password_secret,
    )
    return Fluentd(ns, chart)


def scrape_targets() -> list[ScrapeTarget]:
    return [
        ScrapeTarget(
            "fluentd", LOGGING_NAMESPACE, "ServiceMonitor", {"app.kubernetes.io/name": "fluentd"},
            "metrics",
        ),
    ]
