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
# external-dns (tier 1, written as objects: its chart is not in the offline artefacts); the
# release tag v0.22.0 of kubernetes-sigs/external-dns
EXTERNAL_DNS_IMAGE = "registry.k8s.io/external-dns/external-dns:v0.22.0"
# metrics-server (tier 1, written as objects: no chart in the offline artefacts); the release's
# image, as its manifests/components/release kustomization sets it (v0.9.0)
METRICS_SERVER_IMAGE = "registry.k8s.io/metrics-server/metrics-server:v0.9.0"
# local-path-provisioner (tier 1, written as objects): the image of deploy/local-path-storage.yaml
# at v0.0.37, and its helper pod's busybox (upstream names it untagged), pinned
LOCAL_PATH_PROVISIONER_IMAGE = "docker.io/rancher/local-path-provisioner:v0.0.37"
LOCAL_PATH_HELPER_IMAGE = "docker.io/library/busybox:1.37.0"
# oauth2-proxy, the sign-in in front of Prometheus and Alertmanager (tier 2, written as objects: its
# chart is not in the offline artefacts); release v7.15.3 of oauth2-proxy/oauth2-proxy
OAUTH2_PROXY_IMAGE = "quay.io/oauth2-proxy/oauth2-proxy:v7.15.3"
