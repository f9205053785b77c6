"""One pure values builder per third-party chart: what the chart needs in, its whole values out.

Each builder takes exactly its inputs (its config section, the host it serves, the tier-1 names it
references, the secrets it must carry) and returns the chart's complete values; nothing edits them
afterwards. Credentials live in Kubernetes Secrets the tiers create from Pulumi secrets and the
values name them (`existingSecret`-style keys), except where a chart takes a credential only as a
value (Argo CD's admin hash, Harbor's database password): those arrive as Pulumi secret Outputs
and stay secret. Helm never generates a password, which with a v4 Chart would re-render on every
preview and show a permanent diff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components import names as secret_paths
from components import versions
from components.config import (
    ArgoCDConfig,
    BackupConfig,
    BackupTarget,
    FluentdConfig,
    HarborConfig,
    MonitoringConfig,
    OpenBaoConfig,
)
from components.tools.kube_prometheus_stack import alertmanager
from components.tools.openbao import server as openbao


@dataclass(frozen=True)
class ClusterNames:
    """The tier-1 names tier-2 charts reference (from ClusterServicesRefs)."""

    issuer: str  # ClusterIssuer of the tools' certificates
    storage_class: str  # StorageClass of every volume
    ingress_class: str  # IngressClass of every Ingress

ARGOCD_REDIS_SECRET = "argocd-redis"
GRAFANA_ADMIN_SECRET = "grafana-admin"
FLUENTD_OUTPUT_SECRET = "fluentd-output"
HARBOR_SECRETS = {
    "admin": "harbor-admin",
    "secret_key": "harbor-secret-key",
    "core": "harbor-core-secret",
    "xsrf": "harbor-core-xsrf",
    "jobservice": "harbor-jobservice-secret",
    "registry_http": "harbor-registry-http-secret",
    "registry_credentials": "harbor-registry-credentials",
    "token_cert": "harbor-token-cert",
}


def _requests(cpu: str, memory: str, memory_limit: str | None = None) -> dict[str, Any]:
    """Requests always; a memory limit (no CPU limit: throttling hurts more than it protects)."""
    out: dict[str, Any] = {"requests": {"cpu": cpu, "memory": memory}}
    out["limits"] = {"memory": memory_limit or memory}
    return out


def tls_ingress_annotations(names: ClusterNames) -> dict[str, str]:
    """Annotations that make cert-manager issue the Ingress's TLS certificate."""
    return {"cert-manager.io/cluster-issuer": names.issuer}


# --- tier 1 ------------------------------------------------------------------------------------


def cert_manager_values() -> dict[str, Any]:
    return {
        # CRDs from the chart, kept by Helm semantics if the release goes (the v4 Chart also
        # protects them in production through protect_stateful_children).
        "crds": {"enabled": True, "keep": True},
        # A Helm post-install hook: v4 Charts skip it; WebhookGate does this check instead.
        "startupapicheck": {"enabled": False},
        "resources": _requests("20m", "64Mi", "256Mi"),
        "webhook": {"resources": _requests("10m", "32Mi", "128Mi")},
        "cainjector": {"resources": _requests("10m", "64Mi", "256Mi")},
        # ServiceMonitors need the Prometheus Operator CRDs, which arrive with tier 2.
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
    }


def metallb_values() -> dict[str, Any]:
    return {
        "controller": {"resources": _requests("20m", "64Mi", "256Mi")},
        # Layer 2 mode only: no FRR routing daemon in the speaker, and no FRR-K8s (0.16 turns
        # it on by default: a host-network DaemonSet with NET_ADMIN/SYS_ADMIN, four more CRDs
        # and another webhook, all for BGP the platform does not speak).
        "speaker": {"frr": {"enabled": False}, "resources": _requests("20m", "64Mi", "256Mi")},
        "frrk8s": {"enabled": False},
    }


def traefik_values(ingress_class: str, load_balancer_ip: str, replicas: int) -> dict[str, Any]:
    """Traefik as the cluster's ingress controller, on a fixed MetalLB address."""
    return {
        "deployment": {"replicas": replicas},
        "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": ingress_class},
        "providers": {
            # Ingress status carries the Service's address (Argo CD health, external-dns)
            "kubernetesIngress": {"publishedService": {"enabled": True}},
        },
        "ports": {
            "web": {
                # plain HTTP only redirects. ACME HTTP-01 challenges are redirected too: Let's
                # Encrypt follows a redirect to port 443 without checking the certificate there,
                # where Traefik serves the solver's Ingress as well.
                # Ref: https://letsencrypt.org/docs/challenge-types/#http-01-challenge
                "http": {
                    "redirections": {
                        "entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}
                    }
                },
            },
        },
        "service": {
            # Ref: https://metallb.io/usage/#requesting-specific-ips (spec.loadBalancerIP is
            # deprecated)
            "annotations": {"metallb.io/loadBalancerIPs": load_balancer_ip},
            # keep client addresses in access logs; MetalLB L2 announces from a node with a pod
            "spec": {"externalTrafficPolicy": "Local"},
        },
        "resources": _requests("100m", "128Mi", "512Mi"),
    }


def csi_driver_nfs_values(production: bool) -> dict[str, Any]:
    # The StorageClass is a Pulumi resource of its own (ClusterServices), not the chart's, so
    # policy and the stack outputs see it and production can protect it.
    return {
        "storageClass": {"create": False},
        "controller": {"replicas": 2 if production else 1},
        "externalSnapshotter": {"enabled": False},
    }


# --- tier 2 ------------------------------------------------------------------------------------


def argocd_values(
    argocd: ArgoCDConfig, host: str, names: ClusterNames, admin_password_hash: pulumi.Input[str]
) -> dict[str, Any]:
    return {
        # the chart's own NetworkPolicies (on by default in 10.x) admit everyone to the server
        # and every namespace to the metrics ports; policies add up, so components/netpol.py's
        # table could not restrict anything while they exist
        "global": {"domain": host, "networkPolicy": {"create": False}},
        # The secret-init Job is a pre-install Helm hook that v4 Charts skip; DevTools creates the
        # `argocd-redis` Secret (key `auth`) from a generated Pulumi secret instead.
        "redisSecretInit": {"enabled": False},
        "configs": {
            # TLS terminates at the ingress controller.
            "params": {"server.insecure": True},
            "cm": {"admin.enabled": True, "exec.enabled": False},
            "secret": {
                # Argo CD stores the admin password bcrypt-hashed; pulumi-random keeps the hash
                # stable between runs.
                "argocdServerAdminPassword": admin_password_hash,
                # Unset, the chart stamps the render time here: every preview would show a
                # change and every `up` would end all admin sessions. The date changes only
                # when the password is rotated (it is the password's keeper).
                "argocdServerAdminPasswordMtime": f"{argocd.admin_password_rotated}T00:00:00Z",
            },
        },
        "server": {
            "replicas": argocd.replicas,
            "resources": _requests("50m", "128Mi", "512Mi"),
            "metrics": {"enabled": True},
            "ingress": {
                "enabled": True,
                "ingressClassName": names.ingress_class,
                "hostname": host,
                "annotations": tls_ingress_annotations(names),
                "tls": True,
            },
        },
        "repoServer": {
            "replicas": argocd.replicas,
            "resources": _requests("50m", "256Mi", "1Gi"),
            "metrics": {"enabled": True},
        },
        # metrics Services for the platform's ServiceMonitors (components/observability/monitors.py)
        "controller": {
            "resources": _requests("250m", "512Mi", "2Gi"),
            "metrics": {"enabled": True},
        },
        "applicationSet": {"resources": _requests("20m", "64Mi", "256Mi")},
        "notifications": {"enabled": False},
        "dex": {"enabled": False},
        "redis": {"resources": _requests("20m", "64Mi", "256Mi")},
    }


def harbor_values(
    harbor: HarborConfig, host: str, names: ClusterNames, database_password: pulumi.Input[str]
) -> dict[str, Any]:
    sc = names.storage_class
    s = HARBOR_SECRETS
    replicas = harbor.replicas
    return {
        "expose": {
            "type": "ingress",
            "tls": {
                "enabled": True,
                "certSource": "secret",
                "secret": {"secretName": "harbor-tls"},
            },
            "ingress": {
                "hosts": {"core": host},
                "className": names.ingress_class,
                # Traefik sets no request body limit (image layers are large) and redirects
                # HTTP to HTTPS at its entry point.
                "annotations": tls_ingress_annotations(names),
            },
        },
        "externalURL": f"https://{host}",
        "persistence": {
            "enabled": True,
            "resourcePolicy": "keep",
            "persistentVolumeClaim": {
                "registry": {"storageClass": sc, "size": harbor.registry_size},
                "jobservice": {"jobLog": {"storageClass": sc, "size": "1Gi"}},
                "database": {"storageClass": sc, "size": harbor.database_size},
                "redis": {"storageClass": sc, "size": "1Gi"},
                "trivy": {"storageClass": sc, "size": harbor.trivy_size},
            },
        },
        "existingSecretAdminPassword": s["admin"],
        "existingSecretAdminPasswordKey": "HARBOR_ADMIN_PASSWORD",
        "existingSecretSecretKey": s["secret_key"],
        "core": {
            "replicas": replicas,
            "existingSecret": s["core"],
            "existingXsrfSecret": s["xsrf"],
            "existingXsrfSecretKey": "CSRF_KEY",
            "secretName": s["token_cert"],
            "resources": _requests("100m", "256Mi", "1Gi"),
        },
        "portal": {"replicas": replicas, "resources": _requests("20m", "64Mi", "256Mi")},
        "jobservice": {
            "existingSecret": s["jobservice"],
            "existingSecretKey": "JOBSERVICE_SECRET",
            "resources": _requests("50m", "128Mi", "512Mi"),
        },
        "registry": {
            "replicas": replicas,
            "existingSecret": s["registry_http"],
            "existingSecretKey": "REGISTRY_HTTP_SECRET",
            "credentials": {"existingSecret": s["registry_credentials"]},
            "registry": {"resources": _requests("100m", "256Mi", "1Gi")},
        },
        "trivy": {"enabled": True, "resources": _requests("100m", "512Mi", "1Gi")},
        # metrics ports on core, registry, jobservice and the exporter
        # (components/observability/monitors.py)
        "metrics": {"enabled": True},
        # The chart takes the internal database password only as a value (no existingSecret).
        "database": {
            "type": "internal",
            "internal": {"password": database_password},
            # Velero copies the volume file by file while PostgreSQL runs; this pre-backup hook
            # first writes a consistent dump into the same volume (restore: docs/operations.md)
            "podAnnotations": HARBOR_DATABASE_BACKUP_HOOK,
        },
        "redis": {"type": "internal"},
    }


HARBOR_DUMP = "/var/lib/postgresql/data/harbor-dumpall.sql"
HARBOR_DATABASE_BACKUP_HOOK = {
    "pre.hook.backup.velero.io/container": "database",
    "pre.hook.backup.velero.io/command": json.dumps([
        "/bin/sh", "-c",
        f"pg_dumpall -U postgres --clean > {HARBOR_DUMP}.partial && "
        f"mv {HARBOR_DUMP}.partial {HARBOR_DUMP}",
    ]),
    "pre.hook.backup.velero.io/timeout": "10m",
}


def kube_prometheus_stack_values(
    mon: MonitoringConfig,
    grafana_host: str,
    names: ClusterNames,
    secrets: set[str],
    *,
    back_up_prometheus: bool,
) -> dict[str, Any]:
    """`secrets`: the stack's secret keys that are set (the receivers' credentials among them);
    `back_up_prometheus`: whether Velero copies Prometheus' volume (else it is annotated out)."""
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
            "resources": _requests("50m", "128Mi", "512Mi"),
        },
        "prometheus": {
            "prometheusSpec": {
                "replicas": mon.prometheus_replicas,
                "retention": mon.prometheus_retention,
                "storageSpec": volume(mon.prometheus_storage),
                "resources": _requests("250m", "1Gi", "4Gi"),
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
                "resources": _requests("20m", "64Mi", "256Mi"),
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
                "annotations": tls_ingress_annotations(names),
                "hosts": [grafana_host],
                "tls": [{"secretName": "grafana-tls", "hosts": [grafana_host]}],
            },
            "resources": _requests("50m", "128Mi", "512Mi"),
        },
    }


def fluentd_output_config(fluentd: FluentdConfig, environment: str) -> str:
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


_FLUENTD_VARIANT = {
    "elasticsearch": "elasticsearch8",
    "opensearch": "opensearch",
    "forward": "elasticsearch8",
}


def fluentd_values(fluentd: FluentdConfig, environment: str, with_password: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "DaemonSet",
        "variant": _FLUENTD_VARIANT[fluentd.output.type],
        # PodSecurityPolicy was removed in Kubernetes 1.25.
        "podSecurityPolicy": {"enabled": False},
        "resources": _requests("100m", "256Mi", "512Mi"),
        "fileConfigs": {"04_outputs.conf": fluentd_output_config(fluentd, environment)},
        # the chart's own Grafana dashboard: off, components/observability/dashboards.py has the
        # platform's (a boolean: the template tests truthiness, and the chart's default is the
        # string "true")
        "dashboards": {"enabled": False},
    }
    if with_password:
        values["env"] = [
            {
                "name": "FLUENT_OUTPUT_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": FLUENTD_OUTPUT_SECRET, "key": "password"}},
            }
        ]
    return values


def external_secrets_values(replicas: int) -> dict[str, Any]:
    """External Secrets Operator: syncs OpenBao entries into the Secrets the apps read."""
    return {
        "installCRDs": True,
        "replicaCount": replicas,
        "metrics": {"service": {"enabled": True}},
        "leaderElect": replicas > 1,
        "resources": _requests("20m", "64Mi", "256Mi"),
        "webhook": {"replicaCount": replicas, "resources": _requests("10m", "32Mi", "128Mi")},
        "certController": {"resources": _requests("10m", "32Mi", "128Mi")},
    }


def secret_store_spec(environment: str, openbao_address: str, eso_namespace: str) -> dict[str, Any]:
    """ClusterSecretStore of one environment: OpenBao's kv-v2 `plate` through the Vault provider
    (Kubernetes auth as `eso-<env>`; the dedicated OpenBao provider is alpha, without it)."""
    return {
        "conditions": [{"namespaces": [secret_paths.apps_namespace(environment)]}],
        "provider": {
            "vault": {
                "server": openbao_address,
                "path": secret_paths.APPS_MOUNT,
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


# OpenBao's API inside the cluster: the chart's Service of the active node (the platform's values
# always enable HA mode, so it exists with one replica too). A standby would answer with a
# redirect, which clients do not all follow, and a restore must reach the active node.
OPENBAO_ADDRESS = "http://openbao-active.openbao.svc:8200"
OPENBAO_INIT_CONFIGMAP = "openbao-init"  # init.hcl and the selector script (no secrets)
OPENBAO_UNSEAL_KEY_SECRET = "openbao-unseal-key"  # key `key`: the static seal key


def openbao_values(
    bao: OpenBaoConfig, host: str, names: ClusterNames, unseal_key_secret: str
) -> dict[str, Any]:
    """OpenBao on raft in every environment (same storage engine in stg and prod; prod runs 3 or
    5 voters). With the static seal every pod unseals itself from the key Secret and pod 0
    initialises the cluster once (components/tools/openbao/server.py); with shamir people do
    both by hand."""
    static = bao.seal == "static"
    key_file = f"/openbao/userconfig/{unseal_key_secret}/{openbao.KEY_FILE_NAME}"
    server: dict[str, Any] = {
        "ha": {
            "enabled": True,
            "replicas": bao.replicas,
            "raft": {
                "enabled": True,
                "setNodeId": True,
                "config": openbao.server_config(
                    replicas=bao.replicas, seal=bao.seal, key_file=key_file
                ),
            },
            "disruptionBudget": {"enabled": bao.replicas > 1},
        },
        "dataStorage": {
            "enabled": True,
            "size": bao.storage_size,
            "storageClass": names.storage_class,
        },
        "resources": _requests("100m", "256Mi", "512Mi"),
        "ingress": {
            "enabled": True,
            "ingressClassName": names.ingress_class,
            "annotations": tls_ingress_annotations(names),
            "hosts": [{"host": host, "paths": []}],
            "tls": [{"secretName": "openbao-tls", "hosts": [host]}],
        },
    }
    if static:
        server["extraVolumes"] = [
            {"type": "secret", "name": unseal_key_secret},
            {"type": "configMap", "name": OPENBAO_INIT_CONFIGMAP},
        ]
        # Ref: ../shared/FACTS.md: extraArgs is pasted unquoted into the server's `sh -ec`
        # command line; the script adds the self-initialisation file on pod 0 of a new cluster
        # only (a node with `initialize` and `retry_join` would found a second cluster).
        selector = f"{openbao.INIT_DIR}/{openbao.SELECTOR_FILE_NAME}"
        server["extraArgs"] = f"$(sh {selector})"
    return {"injector": {"enabled": False}, "server": server, "ui": {"enabled": True}}


# --- Velero ------------------------------------------------------------------------------------

VELERO_CREDENTIALS_SECRET = "velero-s3-credentials"  # key `cloud`: an AWS shared-credentials file
VELERO_REPOSITORY_SECRET = "velero-repo-credentials"  # key `repository-password` (kopia's key)
VELERO_SNAPSHOT_LABELS = {"app.kubernetes.io/name": "openbao-snapshot"}
"""What the OpenBao snapshot schedule selects in the openbao namespace: the snapshot volume and
the pod holding it (never the raft volumes, which come back only through a snapshot)."""
PROMETHEUS_DB_VOLUME = "prometheus-kube-prometheus-stack-prometheus-db"


def velero_backed_up_namespaces(argocd_namespace: str, apps: str) -> list[str]:
    """The namespaces of the daily backup: the stateful tools and the apps. Not openbao (its own
    schedule takes only the snapshots), not what the program recreates from its own state."""
    return sorted({argocd_namespace, "harbor", "monitoring", apps})


def velero_values(
    backup: BackupConfig, environment: str, namespaces: list[str]
) -> dict[str, Any]:
    """Velero with file-system backups (kopia, node-agent) of the NFS volumes to S3; no volume
    snapshots (csi-driver-nfs snapshots are tarballs on the same NFS server)."""
    assert backup.target is not None  # the chart is installed only with a target
    ttl = f"{backup.retention_days * 24}h0m0s"
    return {
        # Helm hooks a v4 Chart skips stay off; the CRDs come from the chart's crds/ folder
        "upgradeCRDs": False,
        "cleanUpCRDs": False,
        "kubectl": {"image": {"tag": versions.KUBECTL_IMAGE.rsplit(":", 1)[1]}},
        "initContainers": [{
            "name": "velero-plugin-for-aws",
            "image": versions.VELERO_AWS_PLUGIN_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
        }],
        "credentials": {"useSecret": True, "existingSecret": VELERO_CREDENTIALS_SECRET},
        "backupsEnabled": True,
        "snapshotsEnabled": False,
        "deployNodeAgent": True,
        "configuration": {
            "backupStorageLocation": [_velero_location(backup.target, environment)],
            "volumeSnapshotLocation": [],
            "uploaderType": "kopia",
            "defaultVolumesToFsBackup": True,
            "defaultBackupTTL": ttl,
            "fsBackupTimeout": "4h",
            "logFormat": "json",
        },
        "schedules": _velero_schedules(backup, ttl, namespaces),
        # the file-system restore helper (an init container of restored pods), pinned
        "configMaps": {
            "fs-restore-action-config": {
                "labels": {
                    "velero.io/plugin-config": "",
                    "velero.io/pod-volume-restore": "RestoreItemAction",
                },
                "data": {"image": versions.VELERO_IMAGE},
            },
        },
        # metrics on; the program creates the monitors after the Prometheus Operator
        "metrics": {
            "enabled": True,
            "serviceMonitor": {"enabled": False},
            "nodeAgentPodMonitor": {"enabled": False},
            "prometheusRule": {"enabled": False},
        },
        "resources": _requests("100m", "256Mi", "1Gi"),
        "nodeAgent": {"resources": _requests("100m", "256Mi", "2Gi")},
    }


def _velero_location(target: BackupTarget, environment: str) -> dict[str, Any]:
    """The BackupStorageLocation `default`: the stack's S3 bucket, one folder per environment."""
    config = {
        "region": target.region,
        "s3ForcePathStyle": "true" if target.path_style else "false",
        "checksumAlgorithm": "CRC32" if target.checksum else "",
    }
    if target.url is not None:
        config["s3Url"] = target.url
    return {
        "name": "default",
        "provider": "aws",
        "bucket": target.bucket,
        "prefix": target.prefix or environment,
        "default": True,
        "config": config,
    }


def _velero_schedules(backup: BackupConfig, ttl: str, namespaces: list[str]) -> dict[str, Any]:
    """`velero-tools` (the namespaces' objects and volumes) and `velero-openbao-snapshots` (in
    the openbao namespace only what carries the snapshot labels)."""

    def schedule(template: dict[str, Any]) -> dict[str, Any]:
        return {
            "schedule": backup.schedule,
            # owner references would delete the backups with the Schedule
            "useOwnerReferencesInBackup": False,
            "template": {
                "ttl": ttl,
                "storageLocation": "default",
                "snapshotVolumes": False,
                "defaultVolumesToFsBackup": True,
                "excludedResources": ["events", "events.events.k8s.io"],
                **template,
            },
        }

    return {
        "tools": schedule({"includedNamespaces": namespaces}),
        "openbao-snapshots": schedule({
            "includedNamespaces": ["openbao"],
            "labelSelector": {"matchLabels": VELERO_SNAPSHOT_LABELS},
        }),
    }
