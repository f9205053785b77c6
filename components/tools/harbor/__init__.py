"""Harbor, the private registry with Trivy scanning: the chart with every secret it would otherwise
generate, its token-signing certificate, the bootstrap Job (project, immutable tags, robots,
credentials into OpenBao: `ops/harbor_bootstrap.py`) and the CronJob that renews the CI push robot
before it expires, its scrape target, the network-policy rows into its namespace and its
database's pre-backup hook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config import HarborConfig, IdentityConfig
from components.contracts import ClusterServicesRefs
from components.kube import (
    PROGRAM_POD_SKIPS,
    TierKit,
    as_secret,
    checkov_skips,
    resources,
    restricted_pod,
    run_once_job,
    script_volume,
)
from components.names import (
    HARBOR_BOOTSTRAP,
    HARBOR_BOOTSTRAP_POD_LABELS,
    HARBOR_NAMESPACE,
    INTERNAL_CA_CONFIGMAP,
    INTERNAL_CA_KEY,
    OPENBAO_ADDRESS,
    PROMETHEUS,
    PULL_SECRET_NAME,
)
from components.netpol import Allowance, Peer
from components.observability.monitors import ScrapeTarget
from components.tools import cert_manager

SECRETS = {
    "admin": "harbor-admin",
    "secret_key": "harbor-secret-key",
    "core": "harbor-core-secret",
    "xsrf": "harbor-core-xsrf",
    "jobservice": "harbor-jobservice-secret",
    "registry_http": "harbor-registry-http-secret",
    "registry_credentials": "harbor-registry-credentials",
    "token_cert": "harbor-token-cert",
    "oidc": "harbor-oidc",  # the OIDC client secret the bootstrap hands Harbor
}
# the groups' roles in the project `plate` (admins are Harbor administrators besides)
PROJECT_ROLES = (("admins", "projectAdmin"), ("developers", "developer"), ("viewers", "guest"))
PODS = {"app": "harbor", "release": "harbor"}  # every Harbor component (its selectors)
CA_BUNDLE_SECRET = "harbor-ca-bundle"  # key ca.crt: dev_tools.harbor.ca_bundle
BOOTSTRAP_SCRIPT = Path(__file__).resolve().parents[3] / "ops" / "harbor_bootstrap.py"
BOOTSTRAP_COMMAND = ["python", "-I", "/script/harbor_bootstrap.py"]
CA_DIR = "/ca"  # the bootstrap's copy of the internal CA (OpenBao's certificate)
# the CronJob renewing the push robot: its Jobs (`<name>-<minute>`) match the alert
# HarborBootstrapJobFailed's `harbor-bootstrap.*`; daily, so a push robot due for renewal gets
# push_robot_renew_days nightly attempts before it expires
PUSH_ROTATION = f"{HARBOR_BOOTSTRAP}-rotate-push"
PUSH_ROTATION_SCHEDULE = "17 3 * * *"
# what the bootstrap may read in the cluster: the apps' pull Secrets, to see that one carries a
# new pull robot before the previous robot is deleted (in every namespace: plate-<env> of other
# environments may not exist yet, and this one's is created by a later tier)
PULL_SECRET_READER = f"{HARBOR_BOOTSTRAP}-pull-secrets"
PULL_SECRET_READER_RULES = [
    {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [PULL_SECRET_NAME],
     "verbs": ["get"]},
]
DUMP = "/var/lib/postgresql/data/harbor-dumpall.sql"
DATABASE_BACKUP_HOOK = {
    "pre.hook.backup.velero.io/container": "database",
    "pre.hook.backup.velero.io/command": json.dumps([
        "/bin/sh", "-c",
        f"pg_dumpall -U postgres --clean > {DUMP}.partial && mv {DUMP}.partial {DUMP}",
    ]),
    "pre.hook.backup.velero.io/timeout": "10m",
}


def pods(component: str) -> dict[str, str]:
    return {**PODS, "component": component}


def service_selector(component: str) -> str:
    """Harbor's ServiceMonitor sets `job` from the Services' `app.kubernetes.io/name`, i.e. `harbor`
    for every component; the Prometheus Operator's `service` label (the Service's name,
    `<release>-core`, `-registry`, `-exporter`) tells them apart."""
    return f'service=~".*harbor.*-{component}"'


def values(
    harbor: HarborConfig, host: str, cluster: ClusterServicesRefs,
    database_password: pulumi.Input[str],
) -> dict[str, Any]:
    names = cluster.names
    sc, s, replicas = names.storage_class, SECRETS, harbor.replicas
    trust: dict[str, Any] = {}
    if harbor.ca_bundle is not None:
        # Ref: goharbor/harbor-helm v1.19.1 values.yaml `caBundleSecretName` and
        # templates/_helpers.tpl `harbor.caBundleVolume(Mount)`: the Secret's `ca.crt` is mounted
        # at /harbor_cust_cert/custom-ca.crt in core, jobservice, registry, Trivy and the
        # exporter, whose start adds it to the trust store
        trust["caBundleSecretName"] = CA_BUNDLE_SECRET
    return {
        **trust,
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
                "annotations": names.tls_ingress_annotations(),
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
            "resources": resources("100m", "256Mi", "1Gi"),
        },
        "portal": {"replicas": replicas, "resources": resources("20m", "64Mi", "256Mi")},
        "jobservice": {
            "existingSecret": s["jobservice"],
            "existingSecretKey": "JOBSERVICE_SECRET",
            "resources": resources("50m", "128Mi", "512Mi"),
        },
        "registry": {
            "replicas": replicas,
            "existingSecret": s["registry_http"],
            "existingSecretKey": "REGISTRY_HTTP_SECRET",
            "credentials": {"existingSecret": s["registry_credentials"]},
            "registry": {"resources": resources("100m", "256Mi", "1Gi")},
        },
        "trivy": {"enabled": True, "resources": resources("100m", "512Mi", "1Gi")},
        # metrics ports on core, registry, jobservice and the exporter (`scrape_targets`)
        "metrics": {"enabled": True},
        # The chart takes the internal database password only as a value (no existingSecret).
        "database": {
            "type": "internal",
            "internal": {"password": database_password},
            # Velero copies the volume file by file while PostgreSQL runs; this pre-backup hook
            # first writes a consistent dump into the same volume (restore: docs/operations.md)
            "podAnnotations": DATABASE_BACKUP_HOOK,
        },
        "redis": {"type": "internal"},
    }


@dataclass(frozen=True)
class Harbor:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource
    admin_password: pulumi.Output[str]
    config: HarborConfig


def install(
    kit: TierKit,
    harbor: HarborConfig,
    host: str,
    cluster: ClusterServicesRefs,
    admin_password: pulumi.Output[str],
) -> Harbor:
    ns = kit.namespace(HARBOR_NAMESPACE, "baseline")
    database_password = as_secret(kit.password("harbor-database-password", 32).result)
    # the CA bundle Harbor trusts besides the public CAs (public: a Secret only because the
    # chart takes one)
    trust = [kit.secret(CA_BUNDLE_SECRET, ns, {"ca.crt": harbor.ca_bundle})] if (
        harbor.ca_bundle is not None) else []
    chart = kit.chart(
        "harbor", ns, values(harbor, host, cluster, database_password),
        depends_on=[
            *_secrets(kit, ns, admin_password), _token_cert(kit, ns, cluster),
            *cluster.tls_and_storage, *trust,
        ],
    )
    return Harbor(ns, chart, admin_password, harbor)


def _secrets(
    kit: TierKit, ns: k8s.core.v1.Namespace, admin_password: pulumi.Output[str]
) -> list[k8s.core.v1.Secret]:
    """Every secret Harbor would otherwise generate at render time (a diff on every preview)."""
    h = SECRETS

    def generated(key: str, length: int) -> pulumi.Output[str]:
        return kit.password(f"harbor-{key}", length).result

    registry_password = kit.password("harbor-registry-password", 32)
    htpasswd = pulumi.Output.concat("harbor_registry_user:", registry_password.bcrypt_hash)
    secret = kit.secret
    return [
        secret(h["admin"], ns, {"HARBOR_ADMIN_PASSWORD": admin_password}),
        # Harbor requires exactly 16 characters for these and 32 for the XSRF key.
        secret(h["secret_key"], ns, {"secretKey": generated("secret-key", 16)}),
        secret(h["core"], ns, {"secret": generated("core-secret", 16)}),
        secret(h["xsrf"], ns, {"CSRF_KEY": generated("xsrf-key", 32)}),
        secret(h["jobservice"], ns, {"JOBSERVICE_SECRET": generated("jobservice-secret", 16)}),
        secret(
            h["registry_http"], ns,
            {"REGISTRY_HTTP_SECRET": generated("registry-http-secret", 16)},
        ),
        secret(
            h["registry_credentials"], ns,
            {
                "REGISTRY_PASSWD": registry_password.result,
                "REGISTRY_HTPASSWD": pulumi.Output.secret(htpasswd),
            },
        ),
    ]


def _token_cert(
    kit: TierKit, ns: k8s.core.v1.Namespace, cluster: ClusterServicesRefs
) -> k8s.apiextensions.CustomResource:
    """The token-signing certificate: without one the chart generates a new key pair on every
    render, i.e. a permanent diff (and logged-out users) with a v4 Chart."""
    token_cert, namespace = SECRETS["token_cert"], ns.metadata.name
    token_issuer = kit.custom_resource(
        "harbor-token-issuer", "cert-manager.io/v1", "Issuer",
        k8s.meta.v1.ObjectMetaArgs(name="harbor-token-selfsigned", namespace=namespace),
        {"selfSigned": {}},
        cluster.cert_manager_ready,
    )
    return kit.custom_resource(
        "harbor-token-cert", "cert-manager.io/v1", "Certificate",
        k8s.meta.v1.ObjectMetaArgs(name=token_cert, namespace=namespace),
        {
            "secretName": token_cert,
            "commonName": "harbor-token-service",
            "duration": "87600h",
            "privateKey": {"algorithm": "RSA", "size": 4096, "rotationPolicy": "Never"},
            "issuerRef": {"name": "harbor-token-selfsigned", "kind": "Issuer"},
        },
        [token_issuer],
    )


def bootstrap(
    kit: TierKit,
    installed: Harbor,
    openbao: pulumi.Resource,
    environments: list[str],
    registry: str,
    rotate_robots: bool,
    *,
    identity: IdentityConfig | None = None,
    oidc_client_secret: pulumi.Output[str] | None = None,
    internal_ca: pulumi.Input[str],
) -> k8s.batch.v1.Job:
    """A Job in Harbor's namespace: project `plate` (private, release tags immutable), a pull
    robot per environment and a CI push robot, their credentials written to OpenBao
    (ops/harbor_bootstrap.py); and the daily CronJob that renews the push robot before it expires.

    In the cluster because Harbor's core service and OpenBao answer there without public DNS or
    a public certificate (OpenBao's is verified against `internal_ca`, the PEM of the internal
    CA, mounted from the ConfigMap `plate-internal-ca`), and because the robot secrets then never
    pass through Pulumi state or logs. Idempotent:
    a rerun changes nothing unless `dev_tools.harbor.rotate_robots` is true. With `identity`
    (and its client secret) both also switch Harbor to sign-in through the provider and make
    the groups members of `plate` (`oidc_env`)."""
    ns = installed.namespace
    waits: list[pulumi.Resource] = []
    if identity is not None:
        if oidc_client_secret is None:
            raise ValueError("identity needs identity_harbor_client_secret")
        waits.append(kit.secret(SECRETS["oidc"], ns, {"client-secret": oidc_client_secret}))
    account = kit.service_account(HARBOR_BOOTSTRAP, ns)
    reader = _pull_secret_reader(kit, ns, account)
    script = k8s.core.v1.ConfigMap(
        "harbor-bootstrap-script",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns.metadata.name),
        data={"harbor_bootstrap.py": BOOTSTRAP_SCRIPT.read_text()},
        opts=kit.opts,
    )
    ca = cert_manager.ca_configmap(kit, ns, HARBOR_NAMESPACE, internal_ca)
    env = {**_bootstrap_env(installed.config, environments, registry), **oidc_env(identity)}
    job = run_once_job(
        HARBOR_BOOTSTRAP, ns, account, script,
        command=BOOTSTRAP_COMMAND,
        env=_env_vars({**env, "ROTATE": "true" if rotate_robots else "false"}),
        pod_labels=HARBOR_BOOTSTRAP_POD_LABELS,
        skips=[SECRET_IN_ENV],
        volumes=[(CA_DIR, _ca_volume())],
        opts=kit.child([installed.chart, openbao, account, script, reader, ca, *waits]),
    )
    _push_rotation(kit, ns, account, script, env, [job, ca, *waits])
    return job


def _bootstrap_env(
    harbor: HarborConfig, environments: list[str], registry: str
) -> dict[str, str]:
    return {
        "HARBOR_URL": "http://harbor-core.harbor.svc",
        "BAO_ADDR": OPENBAO_ADDRESS,
        "BAO_CACERT": f"{CA_DIR}/{INTERNAL_CA_KEY}",
        "ENVIRONMENTS": ",".join(environments),
        "REGISTRY": registry,
        "PUSH_ROBOT_DAYS": str(harbor.push_robot_days),
        "PUSH_RENEW_DAYS": str(harbor.push_robot_renew_days),
        "IMMUTABLE_TAGS": json.dumps(harbor.immutable_tags),
    }


def oidc_env(identity: IdentityConfig | None) -> dict[str, str]:
    """The bootstrap's OIDC settings (ops/harbor_bootstrap.py); none without `identity`. Harbor
    takes one administrators' group: the first of `identity.groups.admins` (every admins group
    is also projectAdmin of `plate`). The login page offers the local login only while
    `identity.break_glass` (otherwise it goes straight to the provider)."""
    if identity is None:
        return {}
    groups = identity.groups
    return {
        "OIDC_ENDPOINT": identity.issuer,
        "OIDC_CLIENT_ID": identity.clients.harbor,
        "OIDC_SCOPE": ",".join(identity.scopes),
        "OIDC_GROUPS_CLAIM": identity.groups_claim,
        "OIDC_USER_CLAIM": identity.username_claim,
        "OIDC_ADMIN_GROUP": groups.admins[0],
        "OIDC_PRIMARY": "false" if identity.break_glass else "true",
        "OIDC_PROJECT_GROUPS": json.dumps(
            {g: role for key, role in PROJECT_ROLES for g in getattr(groups, key)},
            sort_keys=True,
        ),
    }


# checkov CKV_K8S_35 (secrets as files): the bootstrap's admin password (and OIDC client secret)
SECRET_IN_ENV = (
    "CKV_K8S_35",
    "a short-lived Job of one process that writes no environment anywhere; the script reads "
    "the Harbor admin password from its environment",
)


def _ca_volume() -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name="internal-ca",
        config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=INTERNAL_CA_CONFIGMAP),
    )


def _env_vars(env: dict[str, str]) -> list[k8s.core.v1.EnvVarArgs]:
    def from_secret(name: str, key: str) -> k8s.core.v1.EnvVarSourceArgs:
        return k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=name, key=key)
        )

    secret_vars = [k8s.core.v1.EnvVarArgs(
        name="HARBOR_PASSWORD", value_from=from_secret(SECRETS["admin"], "HARBOR_ADMIN_PASSWORD"),
    )]
    if "OIDC_ENDPOINT" in env:
        secret_vars.append(k8s.core.v1.EnvVarArgs(
            name="OIDC_CLIENT_SECRET", value_from=from_secret(SECRETS["oidc"], "client-secret"),
        ))
    return [*(k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()), *secret_vars]


def _pull_secret_reader(
    kit: TierKit, ns: k8s.core.v1.Namespace, account: k8s.core.v1.ServiceAccount
) -> k8s.rbac.v1.ClusterRoleBinding:
    """The bootstrap's ServiceAccount may get Secrets named `harbor-pull`, nothing else."""
    role = k8s.rbac.v1.ClusterRole(
        PULL_SECRET_READER,
        rules=[
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=r["apiGroups"], resources=r["resources"],
                resource_names=r["resourceNames"], verbs=r["verbs"],
            )
            for r in PULL_SECRET_READER_RULES
        ],
        opts=kit.opts,
    )
    return k8s.rbac.v1.ClusterRoleBinding(
        PULL_SECRET_READER,
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role.metadata.name
        ),
        subjects=[k8s.rbac.v1.SubjectArgs(
            kind="ServiceAccount", name=account.metadata.name, namespace=ns.metadata.name
        )],
        opts=kit.opts,
    )


def _push_rotation(
    kit: TierKit,
    ns: k8s.core.v1.Namespace,
    account: k8s.core.v1.ServiceAccount,
    script: k8s.core.v1.ConfigMap,
    env: dict[str, str],
    wait_for: list[pulumi.Resource],
) -> k8s.batch.v1.CronJob:
    """The bootstrap script every night with ROTATE=push: a new CI push robot when the current
    one expires within push_robot_renew_days, the replaced one deleted the night after."""
    pod = restricted_pod(
        account, container_name=PUSH_ROTATION, image=versions.PYTHON_IMAGE,
        volumes=[("/script", script_volume(script)), (CA_DIR, _ca_volume())],
        command=BOOTSTRAP_COMMAND,
        env=_env_vars({**env, "ROTATE": "push"}), pod_labels=HARBOR_BOOTSTRAP_POD_LABELS,
    )
    return k8s.batch.v1.CronJob(
        PUSH_ROTATION,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=PUSH_ROTATION, namespace=ns.metadata.name,
            annotations=checkov_skips(*PROGRAM_POD_SKIPS, SECRET_IN_ENV),
        ),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=PUSH_ROTATION_SCHEDULE,
            time_zone="Etc/UTC",
            concurrency_policy="Forbid",
            starting_deadline_seconds=3600,
            successful_jobs_history_limit=1,
            # one failed Job kept for a day: its log, and the HarborBootstrapJobFailed alert
            failed_jobs_history_limit=1,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                spec=k8s.batch.v1.JobSpecArgs(
                    backoff_limit=2,
                    active_deadline_seconds=1200,
                    ttl_seconds_after_finished=86400,
                    template=pod,
                ),
            ),
        ),
        opts=kit.child([*wait_for, account, script]),
    )


def scrape_targets() -> list[ScrapeTarget]:
    # core, registry, jobservice and the exporter (harbor_up)
    return [
        ScrapeTarget(
            "harbor", HARBOR_NAMESPACE, "ServiceMonitor",
            {"app.kubernetes.io/instance": "harbor"}, "http-metrics",
        ),
    ]


def allowances(ingress: Peer) -> list[Allowance]:
    """Connections into the harbor namespace (who connects to what: the chart's env/config)."""
    ns = HARBOR_NAMESPACE
    harbor_peer = Peer(ns, PODS)
    in_harbor = [Peer(ns, pods(c)) for c in ("core", "jobservice", "registry", "trivy")]
    exporter = Peer(ns, pods("exporter"))
    return [
        Allowance("harbor-core-from-ingress", ns, pods("core"), (8080,), (ingress,),
                  "Harbor API and registry (/api/, /service/, /v2/, /c/) through the ingress"),
        Allowance("harbor-portal-from-ingress", ns, pods("portal"), (8080,), (ingress,),
                  "Harbor web UI (/) through the ingress controller"),
        Allowance("harbor-core-from-harbor", ns, pods("core"), (8080,), (harbor_peer,),
                  "jobservice, registry notifications, trivy and the exporter call core"),
        Allowance("harbor-core-from-harbor-bootstrap", ns, pods("core"), (8080,),
                  (Peer(ns, HARBOR_BOOTSTRAP_POD_LABELS),),
                  "the bootstrap Job creates the project and robots through core's API"),
        Allowance("harbor-registry-from-harbor", ns, pods("registry"), (5000, 8080),
                  (harbor_peer,), "core, jobservice and trivy use the registry and registryctl"),
        Allowance("harbor-jobservice-from-harbor", ns, pods("jobservice"), (8080,),
                  (harbor_peer,), "core submits jobs (GC, replication, scans)"),
        Allowance("harbor-trivy-from-harbor", ns, pods("trivy"), ("api-server",),
                  (harbor_peer,), "core and jobservice ask the scanner adapter for scans"),
        Allowance("harbor-database-from-harbor", ns, pods("database"), (5432,),
                  (Peer(ns, pods("core")), Peer(ns, pods("jobservice")), exporter),
                  "PostgreSQL: only core, jobservice and the exporter hold its credentials"),
        Allowance("harbor-redis-from-harbor", ns, pods("redis"), (6379,),
                  (*in_harbor, exporter), "Redis: core, jobservice, registry, trivy, exporter"),
        Allowance("harbor-metrics-from-prometheus", ns, PODS, (8001,),
                  (PROMETHEUS,), "scrapes core, registry, jobservice and the exporter"),
    ]
