"""OpenBao: the chart on raft, its static-seal key and self-initialisation (`server`), its raft
snapshots (`snapshot`, `backup`), the tools' break-glass passwords kept in it (`escrow`), its
scrape target and the network-policy rows into its namespace.

Its API is TLS only, inside the cluster too: cert-manager issues the listener's certificate
(`openbao-server-tls`) from the internal CA for every name clients and peers use, and the CA
reaches the clients in the ConfigMap `plate-internal-ca` (Traefik's ServersTransport, Prometheus,
the snapshot CronJob) or as a value (External Secrets, the Harbor bootstrap).

With the static seal every pod unseals itself from the key Secret and pod 0 initialises the
cluster once (`server`); with shamir people do both by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.config import IdentityConfig, OpenBaoConfig
from components.contracts import ClusterServicesRefs
from components.kube import TierKit, as_secret, resources
from components.names import (
    APPS_MOUNT,
    EXTERNAL_SECRETS,
    HARBOR_BOOTSTRAP_POD_LABELS,
    HARBOR_NAMESPACE,
    INTERNAL_CA_CONFIGMAP,
    OPENBAO_NAMESPACE,
    PLATFORM_MOUNT,
    PROMETHEUS,
)
from components.netpol import Allowance, Peer
from components.observability.monitors import ScrapeTarget
from components.tools import cert_manager
from components.tools.openbao import server

INIT_CONFIGMAP = "openbao-init"  # init.hcl and the selector script (no secrets)
SERVER_SERVICE_ACCOUNT = "openbao"  # the chart's (`openbao.serviceAccount.name`: the release)
CLAIMS_READER = "openbao-claims-reader"  # Role and RoleBinding: the selector lists the PVCs
# sys/health answers 2xx when active, standby or uninitialised, 503 when sealed (a static-seal
# pod is sealed only while it cannot unseal)
READINESS_PATH = "/v1/sys/health?standbyok=true&uninitcode=204"
# ... and 2xx in every state: the liveness probe fails only on a server that does not answer
LIVENESS_PATH = "/v1/sys/health?standbyok=true&sealedcode=204&uninitcode=204"
# the selector may wait PEER_WAIT_SECONDS (and its last round of look-ups) before the server starts
LIVENESS_DELAY_SECONDS = server.PEER_WAIT_SECONDS + 60
UNSEAL_KEY_SECRET = "openbao-unseal-key"  # key `key`: the static seal key
# people's sign-in (`identity`): the OAuth client secret and, with `identity.break_glass`, the
# break-glass password, read by self-initialisation from the mounted Secret (never in init.hcl)
IDENTITY_SECRET = "openbao-identity"
CLIENT_SECRET_KEY = "oidc-client-secret"
BREAK_GLASS_KEY = "break-glass-password"
# where the UI and the CLI (`bao login -method=oidc`, its local listener) receive the provider's
# redirect: the oidc role admits exactly these
CLI_REDIRECT_URI = "http://localhost:8250/oidc/callback"
UI_CALLBACK_PATH = f"/ui/vault/auth/{server.PEOPLE_AUTH_PATH}/oidc/callback"
PUBLIC_PATHS = (
    "/ui/",  # the web UI's assets
    "/v1/sys/health",  # status (the UI's first request; probes from outside)
    "/v1/sys/seal-status",  # the UI shows "sealed" from it
    "/v1/sys/internal/ui/",  # the UI's and `bao kv`'s mount look-ups, filtered by the token's ACL
    "/v1/sys/capabilities-self",  # the UI asks what the token may do
    f"/v1/auth/{server.PEOPLE_AUTH_PATH}/",  # sign-in: auth_url and callback
    "/v1/auth/token/lookup-self",
    "/v1/auth/token/renew-self",
    "/v1/auth/token/revoke-self",  # sign-out
    f"/v1/{APPS_MOUNT}/",  # the apps' values (people write them)
    f"/v1/{PLATFORM_MOUNT}/",  # the platform's credentials (administrators read them)
)
"""What `bao.<domain>` admits (pathType Prefix; Traefik matches them character by character, so
each subtree ends in `/`). Everything else - `sys/*` but the above (raw, storage, seal, unseal,
init, generate-root, rekey, policies, mounts, auth), `auth/kubernetes`, the break-glass login,
`identity/*` - is reachable only inside the cluster or through `kubectl port-forward`."""
RELEASE = "openbao"
# Ref: openbao/openbao-helm openbao-0.29.2 charts/openbao/templates/_helpers.tpl `openbao.scheme`
# and server-statefulset.yaml, server-*service.yaml: with `global.tlsDisable: false` the API port
# 8200 is named `https` in the pods and Services, BAO_ADDR is https://127.0.0.1:8200 and the
# probes use scheme HTTPS (the kubelet does not verify the certificate)
API_PORT = "https"
# the server certificate: two years, renewed after one. OpenBao 2.6.2 reads it at start and on
# SIGHUP only, so a renewed certificate is served from the pod's next start; any restart in the
# second year (an upgrade, a drained node, `kubectl -n openbao rollout restart statefulset/openbao`,
# harmless with the static seal) picks it up before the old one expires.
TLS_DURATION = "17520h"
TLS_RENEW_BEFORE = "8760h"
# Ref: https://doc.traefik.io/traefik/v3.7/reference/routing-configuration/kubernetes/ingress/
# (Service annotations `service.serversscheme`, `service.serverstransport` as
# <namespace>-<name>@kubernetescrd): Traefik reaches OpenBao over HTTPS and verifies it against
# the internal CA, for the name the certificate carries
SERVERS_TRANSPORT = "openbao-internal-ca"
PODS = {
    "app.kubernetes.io/name": "openbao", "app.kubernetes.io/instance": "openbao",
    "component": "server",
}
SNAPSHOT_POD_LABELS = {"app.kubernetes.io/name": "openbao-snapshot"}
"""The program's snapshot workloads (CronJob, volume, shelf); Velero's snapshot schedule selects
exactly these labels in the openbao namespace (never the raft volumes)."""
ESCROW_POD_LABELS = {"app.kubernetes.io/name": server.BREAK_GLASS_ESCROW}
"""The break-glass escrow Job's pods (`escrow`), which write the tools' admin passwords."""
# the snapshot CronJob's pods, not the shelf Deployment that shares their name label
# (`backup`: `app.kubernetes.io/component: shelf`, no ServiceAccount token)
SNAPSHOT_PEER = Peer(
    OPENBAO_NAMESPACE, SNAPSHOT_POD_LABELS, absent=("app.kubernetes.io/component",)
)
JOB = 'job=~"openbao.*"'
"""OpenBao's scrape targets: `openbao-active` with the chart's ServiceMonitor in HA mode (the only
one it scrapes), `openbao-internal`/`openbao` with a ServiceMonitor over every pod."""


def tls_server_values(traefik: bool) -> dict[str, Any]:
    """The chart's `server` keys of the TLS listener: the certificate's Secret mounted, the CA
    for the `bao` CLI in the pod, and (`traefik`) Traefik told to verify the active Service."""
    spec: dict[str, Any] = {
        # the `bao` CLI in the pod (BAO_ADDR https://127.0.0.1:8200, the selector's peer
        # questions) verifies the server against the internal CA
        "extraEnvironmentVars": {"BAO_CACERT": f"{server.TLS_DIR}/{server.TLS_CA_FILE}"},
        # Ref: docs/facts.md, "OpenBao chart: extraArgs" (each entry mounted read-only at
        # /openbao/userconfig/<name>)
        "extraVolumes": [{"type": "secret", "name": server.TLS_SECRET}],
    }
    if traefik:
        spec["service"] = {"active": {"annotations": {
            "traefik.ingress.kubernetes.io/service.serversscheme": "https",
            "traefik.ingress.kubernetes.io/service.serverstransport":
                f"{OPENBAO_NAMESPACE}-{SERVERS_TRANSPORT}@kubernetescrd",
        }}}
    return spec


def values(
    bao: OpenBaoConfig, host: str, cluster: ClusterServicesRefs, unseal_key_secret: str,
    traefik: bool = True, people: bool = False,
) -> dict[str, Any]:
    """OpenBao on raft in every environment (same storage engine in stg and prod; prod runs 3 or
    5 voters), its API over TLS. `traefik`: the platform's Traefik is the ingress controller
    (its ServersTransport verifies OpenBao). `people`: self-initialisation configures people's
    sign-in, from the Secret `IDENTITY_SECRET`."""
    names = cluster.names
    key_file = f"/openbao/userconfig/{unseal_key_secret}/{server.KEY_FILE_NAME}"
    spec: dict[str, Any] = {
        "ha": {
            "enabled": True,
            "replicas": bao.replicas,
            # standbys redirect to the pod's name under the headless Service, which the
            # certificate carries (not the chart's default, the pod IP; docs/facts.md)
            "apiAddr": f"https://$(BAO_K8S_POD_NAME).{RELEASE}-internal:8200",
            "raft": {
                "enabled": True,
                "setNodeId": True,
                "config": server.server_config(
                    replicas=bao.replicas, seal=bao.seal, key_file=key_file
                ),
            },
            "disruptionBudget": {"enabled": bao.replicas > 1},
        },
        "dataStorage": {
            "enabled": True,
            "size": bao.storage_size,
            "storageClass": bao.storage_class or names.storage_class,
        },
        "resources": resources("100m", "256Mi", "512Mi"),
        **tls_server_values(traefik),
        "ingress": {
            "enabled": True,
            "ingressClassName": names.ingress_class,
            "annotations": names.tls_ingress_annotations(),
            # only what people use (`PUBLIC_PATHS`), and `/` exactly (OpenBao redirects it to
            # the UI). Ref: openbao-helm openbao-0.29.2 templates/server-ingress.yaml (each of
            # `paths` gets the chart's pathType, Prefix; `extraPaths` are written as given)
            "hosts": [{"host": host, "paths": list(PUBLIC_PATHS)}],
            "extraPaths": [{
                "path": "/", "pathType": "Exact",
                "backend": {"service": {"name": f"{RELEASE}-active", "port": {"number": 8200}}},
            }],
            "tls": [{"secretName": "openbao-tls", "hosts": [host]}],
        },
    }
    if bao.seal == "static":
        spec["extraVolumes"] += [
            {"type": "secret", "name": unseal_key_secret},
            {"type": "configMap", "name": INIT_CONFIGMAP},
        ]
        if people:  # what self-initialisation reads for people's sign-in (`people_login`)
            spec["extraVolumes"].append({"type": "secret", "name": IDENTITY_SECRET})
        # Ref: docs/facts.md, "OpenBao chart: extraArgs": extraArgs is pasted unquoted into the
        # server's `sh -ec` command line; the script adds the self-initialisation file on pod 0
        # of a new cluster only (a node with `initialize` and `retry_join` would found a second
        # cluster).
        selector = f"{server.INIT_DIR}/{server.SELECTOR_FILE_NAME}"
        spec["extraArgs"] = f"$(sh {selector})"
        # a pod 0 that found a peer's volume but no peer answering starts uninitialised and
        # waits to join; the chart's default probe (`bao status`) would keep it unready, and
        # OrderedReady would then never start the peers it waits for
        spec["readinessProbe"] = {"enabled": True, "path": READINESS_PATH}
        # a server that refuses to unseal a half-done self-initialisation closes its listeners
        # but, with the Kubernetes service registration, never exits (it waits for a signal):
        # the kubelet restarts it, and the selector then redoes the self-initialisation
        spec["livenessProbe"] = {
            "enabled": True, "path": LIVENESS_PATH,
            "initialDelaySeconds": LIVENESS_DELAY_SECONDS, "periodSeconds": 10,
            "failureThreshold": 6,
        }
    chart: dict[str, Any] = {
        "global": {"tlsDisable": False},  # the chart's ports, BAO_ADDR and probes follow it
        "injector": {"enabled": False}, "server": spec, "ui": {"enabled": True},
    }
    if bao.seal == "static":
        chart["extraObjects"] = claims_reader()
    return chart


def claims_reader() -> list[dict[str, Any]]:
    """A Role that may read the PersistentVolumeClaims of the openbao namespace, bound to the
    server's ServiceAccount: pod 0's selector (`server.init_selector_script`) must know whether a
    peer's volume exists before it may initialise. The chart's own Role (`serviceDiscovery`)
    covers pods only; `extraObjects` renders these with the release."""
    meta = {"name": CLAIMS_READER, "namespace": OPENBAO_NAMESPACE,
            "labels": {"app.kubernetes.io/name": "openbao",
                       "app.kubernetes.io/instance": "openbao"}}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
         "rules": [{"apiGroups": [""], "resources": ["persistentvolumeclaims"],
                    "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": CLAIMS_READER},
         "subjects": [{"kind": "ServiceAccount", "name": SERVER_SERVICE_ACCOUNT,
                       "namespace": OPENBAO_NAMESPACE}]},
    ]


def people_login(identity: IdentityConfig, host: str) -> server.PeopleLogin:
    """People's sign-in from the stack's `identity`: the provider, the OpenBao client, the
    groups of each role, the redirect URIs of the UI at `host` and of the CLI, and the files of
    the mounted Secret `IDENTITY_SECRET` self-initialisation reads the secrets from."""
    mounted = f"/openbao/userconfig/{IDENTITY_SECRET}"
    return server.PeopleLogin(
        issuer=identity.issuer,
        client_id=identity.clients.openbao,
        client_secret_file=f"{mounted}/{CLIENT_SECRET_KEY}",
        redirect_uris=(f"https://{host}{UI_CALLBACK_PATH}", CLI_REDIRECT_URI),
        groups_claim=identity.groups_claim,
        user_claim=identity.username_claim,
        scopes=tuple(identity.scopes),
        admins=tuple(identity.groups.admins),
        developers=tuple(identity.groups.developers),
        viewers=tuple(identity.groups.viewers),
        # always: self-initialisation runs once, so a login switched on later could never be
        # created, and when the provider is down no one could create it (server.py)
        break_glass_password_file=f"{mounted}/{BREAK_GLASS_KEY}",
    )


@dataclass(frozen=True)
class OpenBao:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource
    certificate: k8s.apiextensions.CustomResource  # the listener's, from the internal CA
    ca: k8s.core.v1.ConfigMap  # the internal CA in the openbao namespace


def server_names(replicas: int) -> list[str]:
    """Every name a client or peer reaches OpenBao by: the three Services (short, namespaced and
    cluster-qualified) and each pod under the headless Service (`retry_join`'s
    `leader_api_addr`, the selector, `api_addr`)."""
    services = [RELEASE, f"{RELEASE}-active", f"{RELEASE}-internal"]
    suffixes = ["", f".{OPENBAO_NAMESPACE}", f".{OPENBAO_NAMESPACE}.svc",
                f".{OPENBAO_NAMESPACE}.svc.cluster.local"]
    pods = [f"{RELEASE}-{i}.{RELEASE}-internal" for i in range(replicas)]
    return [f"{name}{suffix}" for name in services + pods for suffix in suffixes]


def certificate_spec(replicas: int, issuer: str) -> dict[str, Any]:
    """The listener's certificate (`server.TLS_SECRET`: tls.crt, tls.key, and ca.crt, the CA).
    127.0.0.1 is the address of BAO_ADDR inside the pod and of `kubectl port-forward`."""
    return {
        "secretName": server.TLS_SECRET,
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer},
        "commonName": f"{RELEASE}-active.{OPENBAO_NAMESPACE}.svc",
        "dnsNames": server_names(replicas),
        "ipAddresses": ["127.0.0.1"],
        "duration": TLS_DURATION,
        "renewBefore": TLS_RENEW_BEFORE,
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "usages": ["server auth", "digital signature"],
    }


def servers_transport_spec() -> dict[str, Any]:
    """Traefik's connection to OpenBao's active Service: HTTPS verified against the internal CA
    (the ConfigMap's `ca.crt`) for the Service's name; Traefik dials the pods' addresses, which
    the certificate does not carry."""
    return {
        "serverName": f"{RELEASE}-active.{OPENBAO_NAMESPACE}.svc",
        "rootCAs": [{"configMap": INTERNAL_CA_CONFIGMAP}],
    }


def install(
    kit: TierKit,
    bao: OpenBaoConfig,
    host: str,
    cluster: ClusterServicesRefs,
    environments: list[str],
    apps: list[str],
    unseal_key: pulumi.Output[str] | None,
    internal_ca: pulumi.Input[str],
    traefik: bool = True,
    identity: IdentityConfig | None = None,
    client_secret: pulumi.Output[str] | None = None,
) -> OpenBao:
    """OpenBao; with the static seal also its unseal key and self-initialisation. `unseal_key`:
    the stack's `openbao_unseal_key`, else one is generated (unless the operator supplies the
    Secret, `unseal_key_secret`). `internal_ca`: the PEM of the CA that issues the listener's
    certificate; `traefik`: Traefik is the ingress controller (its ServersTransport).
    `identity`: people sign in through the provider (`client_secret`: the stack's
    `identity_openbao_client_secret`); without it they log in as the ServiceAccount
    `platform-admin` (a stack without single sign-on, never production)."""
    ns = kit.namespace(OPENBAO_NAMESPACE, "baseline")
    key_secret = bao.unseal_key_secret or UNSEAL_KEY_SECRET
    certificate = kit.custom_resource(
        server.TLS_SECRET, "cert-manager.io/v1", "Certificate",
        k8s.meta.v1.ObjectMetaArgs(name=server.TLS_SECRET, namespace=ns.metadata.name),
        certificate_spec(bao.replicas, cluster.names.internal_issuer),
        [ns, *cluster.internal_issuer_ready],
    )
    ca = cert_manager.ca_configmap(kit, ns, OPENBAO_NAMESPACE, internal_ca)
    waits: list[pulumi.Resource] = [*cluster.tls_and_storage, certificate, ca]
    if traefik:
        waits.append(kit.custom_resource(
            SERVERS_TRANSPORT, "traefik.io/v1alpha1", "ServersTransport",
            k8s.meta.v1.ObjectMetaArgs(name=SERVERS_TRANSPORT, namespace=ns.metadata.name),
            servers_transport_spec(), [ns, ca, *cluster.charts],
        ))
    if bao.seal == "static":
        people = None if identity is None else people_login(identity, host)
        init = {
            server.INIT_FILE_NAME: server.init_config(
                environments=environments, apps=apps, people=people
            ),
            server.SELECTOR_FILE_NAME: server.init_selector_script(replicas=bao.replicas),
        }
        waits.append(
            k8s.core.v1.ConfigMap(
                INIT_CONFIGMAP,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=INIT_CONFIGMAP, namespace=ns.metadata.name
                ),
                data=init,
                opts=kit.opts,
            )
        )
        if bao.unseal_key_secret is None:  # else the operator keeps it out of Pulumi state
            waits.append(_unseal_key(kit, ns, unseal_key))
        if identity is None:
            # no single sign-on: people log in as this account (`kubectl -n openbao create
            # token platform-admin`); after self-initialisation no root token exists
            kit.service_account(server.PLATFORM_ADMIN, ns)
        else:
            waits.append(_identity_secret(kit, ns, identity, client_secret))
    chart = kit.chart(
        "openbao", ns,
        values(bao, host, cluster, key_secret, traefik,
               people=bao.seal == "static" and identity is not None),
        depends_on=waits,
    )
    return OpenBao(ns, chart, certificate, ca)


def _identity_secret(
    kit: TierKit, ns: k8s.core.v1.Namespace, identity: IdentityConfig,
    client_secret: pulumi.Output[str] | None,
) -> k8s.core.v1.Secret:
    """What self-initialisation reads for people's sign-in: the OAuth client secret and a
    generated break-glass password (also written to `platform/break-glass/openbao`). Its readers
    are the unseal key's: the openbao namespace."""
    if client_secret is None:
        raise ValueError("identity is set but identity_openbao_client_secret is not")
    data: dict[str, pulumi.Input[str]] = {CLIENT_SECRET_KEY: as_secret(client_secret)}
    password = random.RandomPassword(
        "openbao-break-glass-password", length=32, special=False, opts=kit.opts
    )
    data[BREAK_GLASS_KEY] = as_secret(password.result)
    return kit.secret(IDENTITY_SECRET, ns, data)


def _unseal_key(
    kit: TierKit, ns: k8s.core.v1.Namespace, supplied: pulumi.Output[str] | None
) -> k8s.core.v1.Secret:
    """The static seal key: the stack's `openbao_unseal_key`, else 32 generated bytes (hex).
    Losing it loses every secret: production protects and retains it."""
    if supplied is not None:
        key = supplied
    else:
        generated = random.RandomBytes("openbao-unseal-key", length=32, opts=kit.opts)
        key = as_secret(generated.hex)
    return k8s.core.v1.Secret(
        UNSEAL_KEY_SECRET,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=UNSEAL_KEY_SECRET, namespace=ns.metadata.name),
        string_data={server.KEY_FILE_NAME: key},
        opts=kit.child(protect=True),
    )


def scrape_targets() -> list[ScrapeTarget]:
    # every pod, sealed ones included (they answer /v1/sys/metrics without a token)
    return [
        ScrapeTarget(
            "openbao", OPENBAO_NAMESPACE, "ServiceMonitor",
            {"app.kubernetes.io/instance": "openbao", "openbao-internal": "true"}, API_PORT,
            path="/v1/sys/metrics", params={"format": ["prometheus"]},
            tls_ca_configmap=INTERNAL_CA_CONFIGMAP,
            tls_server_name=f"{RELEASE}-internal.{OPENBAO_NAMESPACE}.svc",
        ),
    ]


def allowances(ingress: Peer) -> list[Allowance]:
    """Connections into the openbao namespace."""
    ns, peer = OPENBAO_NAMESPACE, Peer(OPENBAO_NAMESPACE, PODS)
    return [
        Allowance("openbao-from-ingress", ns, PODS, (API_PORT,), (ingress,),
                  "OpenBao UI and API through the ingress controller (people, CI)"),
        Allowance("openbao-from-external-secrets", ns, PODS, (API_PORT,),
                  (EXTERNAL_SECRETS,), "External Secrets reads plate/<env>/* for the apps"),
        Allowance("openbao-from-harbor-bootstrap", ns, PODS, (API_PORT,),
                  (Peer(HARBOR_NAMESPACE, HARBOR_BOOTSTRAP_POD_LABELS),),
                  "the Harbor bootstrap Job writes the robot credentials"),
        Allowance("openbao-from-snapshot", ns, PODS, (API_PORT,), (SNAPSHOT_PEER,),
                  "the raft snapshot CronJob takes snapshots through the API"),
        Allowance("openbao-from-break-glass-escrow", ns, PODS, (API_PORT,),
                  (Peer(OPENBAO_NAMESPACE, ESCROW_POD_LABELS),),
                  "the escrow Job writes the tools' break-glass admin passwords"),
        Allowance("openbao-peers", ns, PODS, (API_PORT, "https-internal"), (peer,),
                  "raft replication and request forwarding (8201), join and init checks (8200)"),
        Allowance("openbao-metrics-from-prometheus", ns, PODS, (API_PORT,),
                  (PROMETHEUS,), "scrapes /v1/sys/metrics on the API port"),
    ]
