"""Every third-party Helm chart the platform deploys: repository and exact version, by tier.

This is the one place that answers "what are we running?". Versions are exact (no ranges); a stack
may override one with `chart_versions.<chart>` in its stack file (validated as semver), which is how
a bump is tried on `stg` before it reaches `prod`.

Renovate (renovate.json) reads the ChartPin(chart, repository, version) string literals and
KUBECTL_IMAGE below: keep that form. upstream.lock.yaml pins the same chart versions for the
offline render and the tests; a test fails when the two disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartPin:
    chart: str
    repo: str
    version: str


# --- Tier 1: cluster services ------------------------------------------------------------------
CERT_MANAGER = ChartPin("cert-manager", "https://charts.jetstack.io", "v1.21.1")
METALLB = ChartPin("metallb", "https://metallb.github.io/metallb", "0.16.1")
CSI_DRIVER_NFS = ChartPin(
    "csi-driver-nfs",
    "https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/master/charts",
    "4.13.4",
)
TRAEFIK = ChartPin("traefik", "https://traefik.github.io/charts", "41.3.0")

# --- Tier 2: developer tools -------------------------------------------------------------------
ARGO_CD = ChartPin("argo-cd", "https://argoproj.github.io/argo-helm", "10.1.1")
HARBOR = ChartPin("harbor", "https://helm.goharbor.io", "1.19.1")
KUBE_PROMETHEUS_STACK = ChartPin(
    "kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "88.5.3"
)
FLUENTD = ChartPin("fluentd", "https://fluent.github.io/helm-charts", "0.6.0")
OPENBAO = ChartPin("openbao", "https://openbao.github.io/openbao-helm", "0.29.2")
EXTERNAL_SECRETS = ChartPin("external-secrets", "https://charts.external-secrets.io", "2.9.0")
VELERO = ChartPin("velero", "https://vmware-tanzu.github.io/helm-charts", "12.1.0")

CHARTS: dict[str, ChartPin] = {
    pin.chart: pin
    for pin in (
        CERT_MANAGER,
        METALLB,
        CSI_DRIVER_NFS,
        TRAEFIK,
        ARGO_CD,
        HARBOR,
        KUBE_PROMETHEUS_STACK,
        FLUENTD,
        OPENBAO,
        EXTERNAL_SECRETS,
        VELERO,
    )
}

# Images the program itself runs (not through a chart), pinned like the charts.
# The webhook gate runs `kubectl create --dry-run=server` until a webhook answers.
KUBECTL_IMAGE = "registry.k8s.io/kubectl:v1.34.2"
# The Harbor bootstrap Job runs ops/harbor_bootstrap.py (standard library only) in this image.
PYTHON_IMAGE = "python:3.13.9-alpine3.22"
# OpenBao's own image (the chart's appVersion): the raft snapshot CronJob runs its `bao` CLI
OPENBAO_IMAGE = "quay.io/openbao/openbao:2.6.2"
# Velero's object-store plugin (an init container of the Velero chart); 1.14.x pairs with Velero
# 1.18 (the plugin's compatibility table).
VELERO_AWS_PLUGIN_IMAGE = "docker.io/velero/velero-plugin-for-aws:v1.14.0"
# Velero's file-system restore helper: the chart's own image (appVersion of chart 12.1.0)
VELERO_IMAGE = "docker.io/velero/velero:v1.18.1"
