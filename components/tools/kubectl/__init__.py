"""`kubectl` for people: the RBAC bindings that give the identity groups their rights in the
Kubernetes API, once the API server trusts the organisation's OIDC provider (its flags are the
cluster's, set outside this program: docs/operations.md "Signing in with kubectl").

The API server prefixes every name it takes from an ID token with `oidc:` (`--oidc-username-prefix`
and `--oidc-groups-prefix`, or `claimMappings` of a structured AuthenticationConfiguration), so a
binding to Group `oidc:<group>` can never be matched by a ServiceAccount, a certificate or another
authenticator's group of the same name:

    admins      ClusterRoleBinding -> cluster-admin
    developers  ClusterRoleBinding -> view (no Secrets), RoleBinding in plate-<env> -> the Role
                plate-people-developers: delete pods, port-forward to them
    viewers     ClusterRoleBinding -> view (no Secrets)

Developers do not get `edit` in plate-<env>: it reads every app's Secrets, mints tokens for any
app's ServiceAccount and creates bare pods and workloads that no reviewer saw and no admission
policy ties to an Application. Their changes go through Git and Argo CD (sync, restart actions);
`kubectl` is for looking, restarting a stuck pod (its controller recreates it from the reviewed
spec) and port-forwarding to debug.

The cluster-wide bindings belong to the tier that owns the cluster (`cluster_services`), the
namespaced one to the tier that creates `plate-<env>` (`applications`).
Ref: kubernetes/kubernetes v1.34 "Using RBAC Authorization" (user-facing roles `cluster-admin`,
`edit`, `view`; `view` does not include Secrets) and "Authenticating" (OpenID Connect Tokens).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import IdentityConfig

PREFIX = "oidc:"
"""what the API server puts before the username and every group from an ID token"""
RBAC_GROUP = "rbac.authorization.k8s.io"
ADMINS = "plate-people-admins"
READERS = "plate-people-view"
DEVELOPERS = "plate-people-developers"


def api_server_flags(identity: IdentityConfig) -> dict[str, str]:
    """The kube-apiserver flags that make it accept the provider's ID tokens for `kubectl`, with
    the prefix the bindings use (kubeadm: `apiServer.extraArgs`; k3s: `--kube-apiserver-arg`;
    RKE2: `kube-apiserver-arg` in config.yaml). Ref: kubernetes v1.34 "Authenticating",
    OpenID Connect Tokens (`--oidc-*` flags)."""
    return {
        "oidc-issuer-url": identity.issuer,
        "oidc-client-id": identity.clients.kubernetes,
        "oidc-username-claim": identity.username_claim,
        "oidc-username-prefix": PREFIX,
        "oidc-groups-claim": identity.groups_claim,
        "oidc-groups-prefix": PREFIX,
    }


def authentication_configuration(identity: IdentityConfig) -> dict[str, Any]:
    """The same as a structured AuthenticationConfiguration (kube-apiserver
    `--authentication-config`, Kubernetes 1.30 and later; it excludes the `--oidc-*` flags).
    Ref: kubernetes v1.34 "kube-apiserver Configuration (v1beta1)", JWTAuthenticator."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1beta1",
        "kind": "AuthenticationConfiguration",
        "jwt": [{
            "issuer": {"url": identity.issuer, "audiences": [identity.clients.kubernetes]},
            "claimMappings": {
                "username": {"claim": identity.username_claim, "prefix": PREFIX},
                "groups": {"claim": identity.groups_claim, "prefix": PREFIX},
            },
        }],
    }


def subject(group: str) -> dict[str, str]:
    return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": f"{PREFIX}{group}"}


def cluster_bindings(identity: IdentityConfig) -> list[dict[str, Any]]:
    """The ClusterRoleBindings (objects, as applied): admins -> cluster-admin; developers and
    viewers -> view."""
    groups = identity.groups
    readers = [*groups.developers, *groups.viewers]
    bindings = [(ADMINS, "cluster-admin", list(groups.admins))]
    if readers:
        bindings.append((READERS, "view", readers))
    return [
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [subject(g) for g in members],
        }
        for name, role, members in bindings
    ]


DEVELOPER_RULES = [
    # restart a stuck pod: its Deployment/StatefulSet recreates it from the reviewed spec
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
    # reach an app's port from a laptop to debug it
    {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
]


def namespace_role(namespace: str) -> dict[str, Any]:
    """The developers' Role in the apps' namespace (reading comes from the cluster-wide view)."""
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "Role",
        "metadata": {"name": DEVELOPERS, "namespace": namespace},
        "rules": DEVELOPER_RULES,
    }


def namespace_bindings(identity: IdentityConfig, namespace: str) -> list[dict[str, Any]]:
    """The RoleBindings in the apps' namespace: developers -> the Role `namespace_role`."""
    if not identity.groups.developers:
        return []
    return [{
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": DEVELOPERS, "namespace": namespace},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": DEVELOPERS},
        "subjects": [subject(g) for g in identity.groups.developers],
    }]


def _subjects(binding: dict[str, Any]) -> list[k8s.rbac.v1.SubjectArgs]:
    return [
        k8s.rbac.v1.SubjectArgs(kind=s["kind"], api_group=s["apiGroup"], name=s["name"])
        for s in binding["subjects"]
    ]


def _role_ref(binding: dict[str, Any]) -> k8s.rbac.v1.RoleRefArgs:
    ref = binding["roleRef"]
    return k8s.rbac.v1.RoleRefArgs(api_group=ref["apiGroup"], kind=ref["kind"], name=ref["name"])


def install_cluster(
    identity: IdentityConfig, opts: pulumi.ResourceOptions
) -> list[k8s.rbac.v1.ClusterRoleBinding]:
    return [
        k8s.rbac.v1.ClusterRoleBinding(
            b["metadata"]["name"],
            metadata=k8s.meta.v1.ObjectMetaArgs(name=b["metadata"]["name"]),
            role_ref=_role_ref(b), subjects=_subjects(b), opts=opts,
        )
        for b in cluster_bindings(identity)
    ]


def install_namespaced(
    identity: IdentityConfig, ns: k8s.core.v1.Namespace, namespace: str,
    opts: pulumi.ResourceOptions,
) -> list[k8s.rbac.v1.RoleBinding]:
    bindings = namespace_bindings(identity, namespace)
    if not bindings:
        return []
    role = k8s.rbac.v1.Role(
        f"{namespace}-{DEVELOPERS}-role",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=DEVELOPERS, namespace=ns.metadata.name),
        rules=[
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"]
            )
            for r in DEVELOPER_RULES
        ],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ns])),
    )
    return [
        k8s.rbac.v1.RoleBinding(
            f"{namespace}-{b['metadata']['name']}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=b["metadata"]["name"], namespace=ns.metadata.name,
            ),
            role_ref=_role_ref(b), subjects=_subjects(b),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[ns, role])
            ),
        )
        for b in bindings
    ]
