"""The names more than one tool or tier agrees on, in one place: namespaces, Services, Secrets,
OpenBao paths. A name only one tool uses lives in that tool's module.

Where secrets live in OpenBao and how they reach the cluster:

OpenBao (self-initialised, see components/tools/openbao/server.py) mounts two kv-v2 engines:

    plate/<env>/<app>            an application's environment (written by people: `bao kv put`)
    plate/<env>/harbor-pull      the pull-only Harbor robot of <env> (written by the bootstrap Job)
    platform/harbor/ci-push      the CI push robot (written by the bootstrap Job, read by CI)

Each app chart renders its own SecretStore in `plate-<env>` (helm/plate-common), which logs in
with the app's own OpenBao role, `app_secret_role(env, app)`, bound to the app's ServiceAccount
and reading only `plate/<env>/<app>` and `plate/<env>/harbor-pull`; its ExternalSecrets turn those
entries into the Secrets its pods read (`<app>-env`) and pull with (`harbor-pull`). The admission
policy of `plate-<env>` (components/gitops/admission.py) keeps each app to its own store,
ServiceAccount and Secrets. The ClusterSecretStore `openbao-<env>` (reading `plate/<env>/*`) is
no longer the apps' way in: that policy refuses any ExternalSecret in `plate-<env>` that names it.
"""

from __future__ import annotations

import re

from components.netpol import Peer

# --- namespaces that are the same in every stack ------------------------------------------------
CERT_MANAGER_NAMESPACE = "cert-manager"
METALLB_NAMESPACE = "metallb-system"
NFS_NAMESPACE = "nfs-provisioner"
TRAEFIK_NAMESPACE = "traefik"
HARBOR_NAMESPACE = "harbor"
MONITORING_NAMESPACE = "monitoring"
LOGGING_NAMESPACE = "logging"
OPENBAO_NAMESPACE = "openbao"
EXTERNAL_SECRETS_NAMESPACE = "external-secrets"
VELERO_NAMESPACE = "velero"
EXTERNAL_DNS_NAMESPACE = "external-dns"

# --- who talks to whom across tools (labels as the pinned charts, or the program, set them) -----
# the Prometheus Operator labels the pods of a Prometheus this way (kube-prometheus-stack's
# Service for Prometheus selects on it)
PROMETHEUS = Peer(MONITORING_NAMESPACE, {"app.kubernetes.io/name": "prometheus"})
# the controller, which reads OpenBao for every SecretStore (not the webhook or cert-controller)
EXTERNAL_SECRETS = Peer(EXTERNAL_SECRETS_NAMESPACE, {"app.kubernetes.io/name": "external-secrets"})
# the Harbor bootstrap Job: its pods (admitted to Harbor's core and to OpenBao) and its OpenBao
# identity (policy, role and ServiceAccount)
HARBOR_BOOTSTRAP = "harbor-bootstrap"
HARBOR_BOOTSTRAP_POD_LABELS = {"app.kubernetes.io/name": HARBOR_BOOTSTRAP}

# OpenBao's API inside the cluster: the chart's Service of the active node (the platform's values
# always enable HA mode, so it exists with one replica too). A standby would answer with a
# redirect, which clients do not all follow, and a restore must reach the active node.
# Over TLS: the server certificate comes from the internal CA (INTERNAL_CA_ISSUER), which every
# client of this address trusts through the ConfigMap INTERNAL_CA_CONFIGMAP or a caBundle.
OPENBAO_ADDRESS = f"https://openbao-active.{OPENBAO_NAMESPACE}.svc:8200"

# cert-manager's ClusterIssuer of the platform's internal certificates (tls.internal_ca, or a CA
# the program generates), and the ConfigMap that carries its CA certificate (key `ca.crt`, the
# key cert-manager, Traefik and the Prometheus Operator read) into the namespaces whose pods call
# an endpoint it signed
INTERNAL_CA_ISSUER = "plate-internal-ca"
INTERNAL_CA_CONFIGMAP = "plate-internal-ca"
INTERNAL_CA_KEY = "ca.crt"

APPS_MOUNT = "plate"  # kv-v2
PLATFORM_MOUNT = "platform"  # kv-v2
HARBOR_PROJECT = "plate"  # the private Harbor project the app images live in
CI_PUSH_PATH = "harbor/ci-push"  # in PLATFORM_MOUNT
PULL_SECRET_NAME = "harbor-pull"  # the dockerconfigjson Secret in plate-<env>
# fields of plate/<env>/harbor-pull and platform/harbor/ci-push
ROBOT_FIELDS = ("registry", "username", "password", "dockerconfigjson")

_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def secret_store_name(environment: str) -> str:
    return f"openbao-{environment}"


def apps_namespace(environment: str) -> str:
    """`plate-<env>`: the applications' namespace; the AppProject and the secret paths' readers
    of the environment carry the same name."""
    return f"plate-{environment}"


def apps_project(environment: str) -> str:
    """The AppProject of the environment's apps: named like the only namespace it admits."""
    return apps_namespace(environment)


def app_secret_path(environment: str, app: str) -> str:
    """Path of an app's secret inside APPS_MOUNT. Both parts must be DNS labels (the naming
    scheme the per-environment policies rely on: a reader of <env> may read <env>/* only)."""
    for part in (environment, app):
        if not _SEGMENT.match(part):
            raise ValueError(f"{part!r} is not a DNS label; secret paths are <env>/<app>")
    if app == PULL_SECRET_NAME:
        raise ValueError(f"{app!r} is reserved for the Harbor pull robot")
    return f"{environment}/{app}"


def pull_secret_path(environment: str) -> str:
    return f"{environment}/{PULL_SECRET_NAME}"


def app_service_account(app: str) -> str:
    """The ServiceAccount an app's pods run as in `plate-<env>`: the plate charts name it like
    the release (helm/plate-common `plate-common.serviceAccountName`, the chart's fullname; the
    child Application's release and chart are both named after the app)."""
    return app


def app_secret_role(environment: str, app: str) -> str:
    """OpenBao's Kubernetes auth role, and its policy, of one app in one environment: bound to
    the app's ServiceAccount (`app_service_account`) in `plate-<env>`, it reads only
    `plate/<env>/<app>` and `plate/<env>/harbor-pull` (components/tools/openbao/server.py). An
    app's SecretStore logs in with it."""
    app_secret_path(environment, app)  # the same DNS-label rules as its path
    return f"app-{environment}-{app}"


def app_env_secret_name(app: str) -> str:
    """The Kubernetes Secret an app's pods read their environment from."""
    return f"{app}-env"
