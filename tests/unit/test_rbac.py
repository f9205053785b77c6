"""The Secret-reader evaluator (tooling/rbac.py) on small hand-made RBAC sets.

Verifies, each with the exact set of readers: direct reads through Roles, ClusterRoles bound by
RoleBindings (only in that namespace) and ClusterRoleBindings (everywhere); wildcards in verbs,
apiGroups and resources, `*/subresource`; resourceNames naming the Secret or another; write-only
verbs are no read; aggregated ClusterRoles (matchLabels, matchExpressions) and the built-in
`edit`/`view` with aggregation; a RoleBinding's ServiceAccount without a namespace; running code
in the namespace (pod or workload create, patch, exec, ephemeral containers), and only there;
token minting and impersonation of a reader, transitively, and of anyone else not; impersonating
any group; `bind` with RoleBinding creation; Users and Groups as subjects.
"""

from __future__ import annotations

from typing import Any

from tooling import rbac
from tooling.rbac import Subject

NS, KEY = "vault", "key"


def role(name: str, *rules: dict[str, Any], namespace: str = NS) -> dict[str, Any]:
    return {"kind": "Role", "metadata": {"name": name, "namespace": namespace},
            "rules": list(rules)}


def cluster_role(name: str, *rules: dict[str, Any], labels: dict[str, str] | None = None,
                 aggregate: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "ClusterRole",
                            "metadata": {"name": name, "labels": labels or {}},
                            "rules": list(rules)}
    if aggregate is not None:
        body["aggregationRule"] = {"clusterRoleSelectors": aggregate}
    return body


def sa(name: str, namespace: str = "tools") -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def binding(role_kind: str, role_name: str, *subjects: dict[str, str],
            namespace: str | None = NS) -> dict[str, Any]:
    kind = "ClusterRoleBinding" if namespace is None else "RoleBinding"
    metadata = {"name": f"{role_name}-binding"} | ({"namespace": namespace} if namespace else {})
    return {"kind": kind, "metadata": metadata, "subjects": list(subjects),
            "roleRef": {"apiGroup": rbac.RBAC_GROUP, "kind": role_kind, "name": role_name}}


def rule(verbs: list[str], resources: list[str], groups: list[str] | None = None,
         names: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiGroups": [""] if groups is None else groups,
                           "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def readers(*objects: dict[str, Any]) -> set[str]:
    return {str(s) for s in rbac.readers(objects, NS, KEY)}


def test_role_in_the_namespace_reads_and_in_another_does_not() -> None:
    assert readers(
        role("r", rule(["get"], ["secrets"])), binding("Role", "r", sa("a")),
        role("o", rule(["get"], ["secrets"]), namespace="other"),
        binding("Role", "o", sa("b"), namespace="other"),
    ) == {"ServiceAccount tools/a"}


def test_cluster_role_counts_where_it_is_bound() -> None:
    cr = cluster_role("reader", rule(["list"], ["secrets"]))
    assert readers(
        cr,
        binding("ClusterRole", "reader", sa("everywhere"), namespace=None),
        binding("ClusterRole", "reader", sa("here")),
        binding("ClusterRole", "reader", sa("elsewhere"), namespace="other"),
    ) == {"ServiceAccount tools/everywhere", "ServiceAccount tools/here"}


def test_wildcards_and_subresource_wildcards() -> None:
    assert readers(
        cluster_role("any-verb", rule(["*"], ["secrets"])),
        cluster_role("any-group", rule(["watch"], ["secrets"], groups=["*"])),
        cluster_role("any-resource", rule(["get"], ["*"])),
        cluster_role("other-group", rule(["get"], ["secrets"], groups=["apps"])),
        cluster_role("sub-only", rule(["get"], ["*/status"])),
        *(binding("ClusterRole", n, sa(n), namespace=None)
          for n in ("any-verb", "any-group", "any-resource", "other-group", "sub-only")),
    ) == {"ServiceAccount tools/any-verb", "ServiceAccount tools/any-group",
          "ServiceAccount tools/any-resource"}


def test_resource_names_and_write_only_verbs() -> None:
    assert readers(
        role("named", rule(["get"], ["secrets"], names=[KEY])),
        role("another", rule(["get", "list", "watch"], ["secrets"], names=["tls"])),
        role("writer", rule(["create", "update", "delete"], ["secrets"])),
        binding("Role", "named", sa("named")), binding("Role", "another", sa("another")),
        binding("Role", "writer", sa("writer")),
    ) == {"ServiceAccount tools/named"}


def test_aggregated_cluster_roles() -> None:
    assert readers(
        cluster_role("agg", aggregate=[{"matchLabels": {"x/aggregate": "true"}}]),
        cluster_role("agg-expr", aggregate=[
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}
        ]),
        cluster_role("part", rule(["get"], ["secrets"]),
                     labels={"x/aggregate": "true", "tier": "b"}),
        cluster_role("unlabelled", rule(["get"], ["secrets"])),
        binding("ClusterRole", "agg", sa("agg")),
        binding("ClusterRole", "agg-expr", sa("expr")),
    ) == {"ServiceAccount tools/agg", "ServiceAccount tools/expr"}


def test_builtin_roles_and_aggregation_into_them() -> None:
    secret_view = cluster_role(
        "extra-view", rule(["get"], ["secrets"]),
        labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    )
    assert readers(binding("ClusterRole", "view", sa("viewer"))) == set()
    assert readers(binding("ClusterRole", "edit", sa("editor"))) == {"ServiceAccount tools/editor"}
    assert readers(secret_view, binding("ClusterRole", "view", sa("viewer"))) == {
        "ServiceAccount tools/viewer"
    }
    assert readers(binding("ClusterRole", "cluster-admin", {"kind": "Group", "name": "ops"},
                           namespace=None)) == {"Group ops"}


def test_service_account_subject_without_namespace_is_the_binding_s() -> None:
    assert readers(
        role("r", rule(["get"], ["secrets"])),
        binding("Role", "r", {"kind": "ServiceAccount", "name": "local"}),
    ) == {f"ServiceAccount {NS}/local"}


def test_running_code_in_the_namespace_reads() -> None:
    cases = {
        "pods": rule(["create"], ["pods"]),
        "deployments": rule(["patch"], ["deployments"], groups=["apps"]),
        "cronjobs": rule(["update"], ["cronjobs"], groups=["batch"]),
        "exec": rule(["create"], ["pods/exec"]),
        "ephemeral": rule(["patch"], ["pods/ephemeralcontainers"]),
        "log-only": rule(["get"], ["pods", "pods/log"]),
        "delete-only": rule(["delete"], ["pods"]),
    }
    objects = [cluster_role(n, r) for n, r in cases.items()]
    objects += [binding("ClusterRole", n, sa(n)) for n in cases]
    objects += [binding("ClusterRole", "pods", sa("pods-elsewhere"), namespace="other")]
    assert readers(*objects) == {
        f"ServiceAccount tools/{n}" for n in ("pods", "deployments", "cronjobs", "exec",
                                              "ephemeral")
    }


def test_becoming_a_reader_is_reading() -> None:
    assert readers(
        role("r", rule(["get"], ["secrets"])), binding("Role", "r", sa("reader")),
        # mints the reader's token, only hers: a reader
        cluster_role("mint", rule(["create"], ["serviceaccounts/token"], names=["reader"])),
        binding("ClusterRole", "mint", sa("minter"), namespace="tools"),
        # mints tokens of another ServiceAccount only: not
        cluster_role("mint-other", rule(["create"], ["serviceaccounts/token"], names=["x"])),
        binding("ClusterRole", "mint-other", sa("other-minter"), namespace="tools"),
        # impersonates the minter (a reader through her): a reader, transitively
        cluster_role("imp", rule(["impersonate"], ["serviceaccounts"], names=["minter"])),
        binding("ClusterRole", "imp", sa("impersonator", "ci"), namespace="tools"),
        # creates pods in tools: runs as any ServiceAccount there, the reader included
        role("pods", rule(["create"], ["pods"]), namespace="tools"),
        binding("Role", "pods", sa("deployer", "ci"), namespace="tools"),
    ) == {"ServiceAccount tools/reader", "ServiceAccount tools/minter",
          "ServiceAccount ci/impersonator", "ServiceAccount ci/deployer"}


def test_impersonating_users_and_groups() -> None:
    assert readers(
        cluster_role("r", rule(["get"], ["secrets"])),
        binding("ClusterRole", "r", {"kind": "User", "name": "alice"}, namespace=None),
        cluster_role("as-alice", rule(["impersonate"], ["users"], names=["alice"])),
        cluster_role("as-bob", rule(["impersonate"], ["users"], names=["bob"])),
        cluster_role("as-any-group", rule(["impersonate"], ["groups"])),
        binding("ClusterRole", "as-alice", sa("a"), namespace=None),
        binding("ClusterRole", "as-bob", sa("b"), namespace=None),
        binding("ClusterRole", "as-any-group", {"kind": "Group", "name": "g"}, namespace=None),
    ) == {"User alice", "ServiceAccount tools/a", "Group g"}


def test_bind_with_rolebinding_creation_escalates() -> None:
    bind = rule(["bind"], ["clusterroles"], groups=[rbac.RBAC_GROUP])
    create = rule(["create"], ["rolebindings"], groups=[rbac.RBAC_GROUP])
    assert readers(
        cluster_role("both", bind, create), cluster_role("create-only", create),
        cluster_role("bind-only", bind),
        binding("ClusterRole", "both", sa("both")),
        binding("ClusterRole", "both", sa("both-elsewhere"), namespace="other"),
        binding("ClusterRole", "create-only", sa("create-only")),
        binding("ClusterRole", "bind-only", sa("bind-only")),
    ) == {"ServiceAccount tools/both"}


def test_subject_text() -> None:
    assert str(Subject("ServiceAccount", "x", "ns")) == "ServiceAccount ns/x"
    assert str(Subject("Group", "g")) == "Group g"
