"""External Secrets Operator: syncs OpenBao entries into the Secrets the apps read. The chart, its
webhook gate, one ClusterSecretStore `openbao-<env>` per environment, and its scrape target.

The stores reach OpenBao over TLS and verify it against the internal CA, carried in each store as
`caBundle` (no Secret or ConfigMap for External Secrets to read elsewhere).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import names
from components.kube import TierKit, WebhookGate, resources
from components.names import (
    EXTERNAL_SECRETS,
    EXTERNAL_SECRETS_NAMESPACE,
    OPENBAO_ADDRESS,
    PROMETHEUS,
)
from components.netpol import API_SERVER, Allowance
from components.observability.monitors import ScrapeTarget
from components.tools.openbao import server as openbao


def values(replicas: int) -> dict[str, Any]:
    return {
        "installCRDs": True,
        "replicaCount": replicas,
        "metrics": {"service": {"enabled": True}},
        "leaderElect": replicas > 1,
        "resources": resources("20m", "64Mi", "256Mi"),
        "webhook": {"replicaCount": replicas, "resources": resources("10m", "32Mi", "128Mi")},
        "certController": {"resources": resources("10m", "32Mi", "128Mi")},
    }


def secret_store_spec(
    environment: str, openbao_address: str, eso_namespace: str, ca_bundle: str
) -> dict[str, Any]:
    """ClusterSecretStore of one environment: OpenBao's kv-v2 `plate` through the Vault provider
    (Kubernetes auth as `eso-<env>`; the dedicated OpenBao provider is alpha, without it),
    verifying OpenBao's certificate against `ca_bundle` (PEM).
    Ref: external-secrets helm-chart-2.9.0 ClusterSecretStore v1 `provider.vault.caBundle`
    (format byte: the base64 of the PEM)."""
    return {
        "conditions": [{"namespaces": [names.apps_namespace(environment)]}],
        "provider": {
            "vault": {
                "server": openbao_address,
                "caBundle": base64.b64encode(ca_bundle.encode()).decode(),
                "path": names.APPS_MOUNT,
                "version": "v2",
                "auth": {
                    "kubernetes": {
                        "mountPath": openbao.KUBERNETES_AUTH_PATH,
                        "role": openbao.eso_role(environment),
                        "serviceAccountRef": {
                            "name": openbao.eso_role(environment),
                            "namespace": eso_namespace,
                        },
                    }
                },
            }
        },
    }


@dataclass(frozen=True)
class ExternalSecrets:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource
    webhook: WebhookGate
    stores: dict[str, k8s.apiextensions.CustomResource]


def install(
    kit: TierKit, environments: list[str], openbao_chart: pulumi.Resource, await_stores: bool,
    internal_ca: pulumi.Input[str],
) -> ExternalSecrets:
    """External Secrets Operator, its webhook gate, one ClusterSecretStore per environment.
    `await_stores`: Pulumi waits until each store is Ready (only where OpenBao initialises
    itself: with the shamir seal they become Ready after people have initialised it);
    `internal_ca`: the PEM of the CA that signed OpenBao's certificate."""
    ns, chart = kit.tool(
        "external-secrets", EXTERNAL_SECRETS_NAMESPACE, "restricted",
        values(2 if kit.production else 1),
    )
    webhook = kit.gate(
        "external-secrets-webhook-ready", ns,
        ("external-secrets.io/v1", "SecretStore", {"provider": {"fake": {"data": []}}}), chart,
    )
    stores = {
        env: _secret_store(kit, ns, env, [webhook, openbao_chart], await_stores, internal_ca)
        for env in environments
    }
    return ExternalSecrets(ns, chart, webhook, stores)


def _secret_store(
    kit: TierKit, ns: k8s.core.v1.Namespace, environment: str,
    waits: list[pulumi.Resource], await_ready: bool, internal_ca: pulumi.Input[str],
) -> k8s.apiextensions.CustomResource:
    """`openbao-<env>`: reads plate/<env>/* as the OpenBao role eso-<env>, only for
    ExternalSecrets in plate-<env>; Pulumi waits until External Secrets reports it Ready
    (with `await_ready`)."""
    identity = kit.service_account(openbao.eso_role(environment), ns)
    name = names.secret_store_name(environment)
    return kit.custom_resource(
        name, "external-secrets.io/v1", "ClusterSecretStore",
        k8s.meta.v1.ObjectMetaArgs(
            name=name,
            annotations=(
                {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "900"}
                if await_ready else None
            ),
        ),
        pulumi.Output.from_input(internal_ca).apply(
            lambda ca: secret_store_spec(
                environment, OPENBAO_ADDRESS, EXTERNAL_SECRETS_NAMESPACE, ca
            )
        ),
        [*waits, identity],
    )


def scrape_targets() -> list[ScrapeTarget]:
    return [
        ScrapeTarget(
            "external-secrets", EXTERNAL_SECRETS_NAMESPACE, "ServiceMonitor",
            {"app.kubernetes.io/name": "external-secrets"}, "metrics",
        ),
    ]


WEBHOOK_PODS = {
    "app.kubernetes.io/name": "external-secrets-webhook",
    "app.kubernetes.io/instance": "external-secrets",
}


def allowances() -> list[Allowance]:
    """Connections into external-secrets (the cert-controller only calls the API)."""
    ns = EXTERNAL_SECRETS_NAMESPACE
    return [
        Allowance("external-secrets-webhook-from-api-server", ns, WEBHOOK_PODS, ("webhook",),
                  (API_SERVER,), "admission of SecretStores and ExternalSecrets (10250)"),
        Allowance("external-secrets-metrics-from-prometheus", ns, dict(EXTERNAL_SECRETS.pods),
                  ("metrics",), (PROMETHEUS,), "scrapes the controller (monitors.py)"),
    ]
