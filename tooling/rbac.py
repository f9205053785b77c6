"""Who can read a Secret, computed from RBAC objects the way the API server's RBAC authorizer
decides, plus the well-known ways round it.

    uv run python -m tooling.rbac --stack prod        # readers of OpenBao's unseal key
    uv run python -m tooling.rbac --stack prod --namespace harbor --secret harbor-admin

`readers(objects, namespace, name)` takes the Roles, ClusterRoles and their bindings of a render
(the charts' and the program's) and returns every subject (ServiceAccount, User, Group) that can
read the Secret `namespace/name`:

1. **directly**: a rule that allows `get`, `list` or `watch` on `secrets` in the core group
   (wildcards `*` in apiGroups, resources and verbs honoured; `resourceNames` empty or naming the
   Secret), through a RoleBinding in the Secret's namespace (of a Role, or of a ClusterRole: only
   there) or a ClusterRoleBinding (everywhere). ClusterRoles with an `aggregationRule` get the rules
   of every ClusterRole whose labels match one of its selectors, as the aggregation controller
   does (matchLabels and matchExpressions).
2. **by running code in the namespace**: creating, updating or patching pods or any workload that
   makes pods (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
   ReplicationController), exec into a pod (`pods/exec`), or adding an ephemeral container: a pod
   in the namespace can mount the Secret, and runs as any ServiceAccount of that namespace.
3. **by becoming a reader**: minting a token for a ServiceAccount (`serviceaccounts/token`
   create) or impersonating one, a user or a group that reads it (impersonating any group at all
   includes `system:masters`); running code in a namespace (2.) acts as its ServiceAccounts.
4. **by escalating RBAC**: creating a RoleBinding in the namespace (or a ClusterRoleBinding)
   together with the `bind` or `escalate` verb on roles or clusterroles, which lifts the API
   server's rule that one may grant only what one holds.

The result is the fixpoint of 3 over 1, 2 and 4. Built-in ClusterRoles the render refers to but
does not contain (`cluster-admin`, `admin`, `edit`, `view`, ...) come from `BUILTIN_CLUSTER_ROLES`.
Not modelled: the cluster's own bootstrap bindings (`system:masters`, the control plane's
components, the nodes' access to the Secrets of their pods), and what RBAC does not see at all:
a privileged or hostPath pod reads every mounted Secret on its node (docs/security.md lists them).

Ref: kubernetes/kubernetes v1.34.0 plugin/pkg/auth/authorizer/rbac/rbac.go (RulesAllow),
pkg/apis/rbac/v1/evaluation_helpers.go (VerbMatches, ResourceMatches, APIGroupMatches,
ResourceNameMatches), pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go;
https://kubernetes.io/docs/concepts/security/rbac-good-practices/ ("Privilege escalation
risks": workload creation, token request, impersonate, escalate, bind).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

READ_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"create", "update", "patch"})
# (group, resource) that makes pods in its namespace
WORKLOADS = frozenset({
    ("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"),
    ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
    ("batch", "jobs"), ("batch", "cronjobs"),
})
RBAC_GROUP = "rbac.authorization.k8s.io"

# Built-in ClusterRoles (only the rules that matter here: Secrets, pods, tokens, impersonation),
# created by the API server itself and so absent from any render.
# Ref: kubernetes/kubernetes v1.34.0 plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go
_EVERYTHING = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
_EDIT_RULES = [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "create",
                                                            "update", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods", "pods/exec", "pods/attach"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
]
BUILTIN_CLUSTER_ROLES: dict[str, dict[str, Any]] = {
    "cluster-admin": {"rules": [_EVERYTHING]},
    "admin": {"rules": _EDIT_RULES, "aggregate_to": "admin"},
    "edit": {"rules": _EDIT_RULES, "aggregate_to": "edit"},
    "view": {"rules": [], "aggregate_to": "view"},
    "system:auth-delegator": {"rules": [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"],
         "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"],
         "verbs": ["create"]},
    ]},
}


@dataclass(frozen=True, order=True)
class Subject:
    """Who a binding names: kind `ServiceAccount` (with its namespace), `User` or `Group`."""

    kind: str
    name: str
    namespace: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else (
            f"{self.kind} {self.name}"
        )


@dataclass(frozen=True)
class Grant:
    """A rule held by `subject`, in `namespace` ("" = every namespace and cluster scope)."""

    subject: Subject
    namespace: str
    rule: Mapping[str, Any]


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values or [])
    return "*" in values or wanted in values


def _resource_matches(resources: Iterable[str], resource: str) -> bool:
    """RBAC's ResourceMatches: `*`, the exact `resource[/subresource]`, or `*/subresource`."""
    resources = list(resources or [])
    if "*" in resources or resource in resources:
        return True
    _, slash, sub = resource.partition("/")
    return bool(slash) and f"*/{sub}" in resources


def allows(
    rule: Mapping[str, Any], verb: str, group: str, resource: str, name: str | None = None
) -> bool:
    """Whether one PolicyRule allows `verb` on `group`/`resource` (named `name`; None: any
    name, which a rule with resourceNames does not allow)."""
    if not (_matches(rule.get("verbs") or [], verb)
            and _matches(rule.get("apiGroups") or [], group)
            and _resource_matches(rule.get("resources") or [], resource)):
        return False
    names = rule.get("resourceNames") or []
    return not names or (name is not None and name in names)


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (
            op == "NotIn" and key in labels and labels[key] in values
        ) or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _cluster_roles(objects: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Name -> rules of every ClusterRole, built-in ones included, aggregation resolved."""
    rendered = {
        o["metadata"]["name"]: o for o in objects if o.get("kind") == "ClusterRole"
    }
    rules: dict[str, list[Mapping[str, Any]]] = {
        name: list(o.get("rules") or []) for name, o in rendered.items()
    }
    selectors: dict[str, list[Mapping[str, Any]]] = {
        name: list((o.get("aggregationRule") or {}).get("clusterRoleSelectors") or [])
        for name, o in rendered.items() if o.get("aggregationRule")
    }
    for name, builtin in BUILTIN_CLUSTER_ROLES.items():
        if name in rendered:
            continue
        rules[name] = list(builtin["rules"])
        if "aggregate_to" in builtin:
            label = f"rbac.authorization.k8s.io/aggregate-to-{builtin['aggregate_to']}"
            selectors[name] = [{"matchLabels": {label: "true"}}]
    # the aggregation controller copies the rules of the matching roles (their own rules, which
    # for an aggregated role are themselves aggregated: iterate to a fixpoint)
    changed = True
    while changed:
        changed = False
        for name, sels in selectors.items():
            for other, o in rendered.items():
                labels = (o.get("metadata") or {}).get("labels") or {}
                if other == name or not any(_selector_matches(s, labels) for s in sels):
                    continue
                for rule in rules[other]:
                    if rule not in rules[name]:
                        rules[name].append(rule)
                        changed = True
    return rules


def _subjects(binding: Mapping[str, Any]) -> list[Subject]:
    namespace = (binding.get("metadata") or {}).get("namespace") or ""
    out = []
    for s in binding.get("subjects") or []:
        if s["kind"] == "ServiceAccount":
            # a RoleBinding's ServiceAccount without a namespace is the binding's namespace
            out.append(Subject("ServiceAccount", s["name"], s.get("namespace") or namespace))
        else:
            out.append(Subject(s["kind"], s["name"]))
    return out


def grants(objects: Sequence[Mapping[str, Any]]) -> list[Grant]:
    """Every (subject, scope, rule) the bindings among `objects` give."""
    cluster_roles = _cluster_roles(objects)
    roles = {
        ((o.get("metadata") or {}).get("namespace") or "", o["metadata"]["name"]):
            list(o.get("rules") or [])
        for o in objects if o.get("kind") == "Role"
    }
    out: list[Grant] = []
    for b in objects:
        if b.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        namespace = "" if b["kind"] == "ClusterRoleBinding" else b["metadata"]["namespace"]
        ref = b["roleRef"]
        if ref["kind"] == "ClusterRole":
            rules = cluster_roles.get(ref["name"], [])
        else:
            rules = roles.get((namespace, ref["name"]), [])
        for subject in _subjects(b):
            out.extend(Grant(subject, namespace, rule) for rule in rules)
    return out


def _can(
    held: list[Grant], verbs: Iterable[str], group: str, resource: str, namespace: str,
    name: str | None = None,
) -> bool:
    """Whether `held` allows one of `verbs` on `resource` in `namespace` ("" = cluster scope,
    which only a ClusterRoleBinding gives)."""
    return any(
        (g.namespace == "" or g.namespace == namespace)
        and any(allows(g.rule, verb, group, resource, name) for verb in verbs)
        for g in held
    )


def runs_code_in(held: list[Grant], namespace: str) -> bool:
    """Whether `held` can start or change a pod in `namespace` (2. of the module docstring)."""
    return (
        any(_can(held, WRITE_VERBS, group, resource, namespace) for group, resource in WORKLOADS)
        or _can(held, {"create", "get"}, "", "pods/exec", namespace)
        or _can(held, {"update", "patch"}, "", "pods/ephemeralcontainers", namespace)
    )


def _escalates_in(held: list[Grant], namespace: str) -> bool:
    """4. of the module docstring: may bind anything in `namespace` (or cluster-wide)."""
    binds = any(
        _can(held, {"bind", "escalate"}, RBAC_GROUP, kind, namespace)
        for kind in ("roles", "clusterroles")
    )
    return binds and (
        _can(held, {"create"}, RBAC_GROUP, "rolebindings", namespace)
        or _can(held, {"create"}, RBAC_GROUP, "clusterrolebindings", "")
    )


def _becomes(held: list[Grant], other: Subject) -> bool:
    """3. of the module docstring: may act as `other`."""
    if other.kind == "ServiceAccount":
        return (
            _can(held, {"create"}, "", "serviceaccounts/token", other.namespace, other.name)
            or _can(held, {"impersonate"}, "", "serviceaccounts", other.namespace, other.name)
            or runs_code_in(held, other.namespace)
        )
    resource = "users" if other.kind == "User" else "groups"
    return _can(held, {"impersonate"}, "", resource, "", other.name)


def readers(objects: Sequence[Mapping[str, Any]], namespace: str, name: str) -> set[Subject]:
    """Every subject among the bindings of `objects` that can read Secret `namespace/name`."""
    by_subject: dict[Subject, list[Grant]] = {}
    for g in grants(objects):
        by_subject.setdefault(g.subject, []).append(g)
    found = {
        s for s, held in by_subject.items()
        if _can(held, READ_VERBS, "", "secrets", namespace, name)
        or runs_code_in(held, namespace)
        or _escalates_in(held, namespace)
        # impersonating any group includes system:masters (cluster-admin)
        or _can(held, {"impersonate"}, "", "groups", "")
    }
    while True:
        more = {
            s for s, held in by_subject.items()
            if s not in found and any(_becomes(held, r) for r in found)
        }
        if not more:
            return found
        found |= more


def main(argv: list[str] | None = None) -> int:
    from components.tools import openbao
    from tooling import render

    parser = argparse.ArgumentParser(
        prog="python -m tooling.rbac", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--namespace", default="openbao", help="the Secret's namespace")
    parser.add_argument("--secret", help="the Secret's name (default: the unseal key's)")
    args = parser.parse_args(argv)
    stack = render.render_stack(args.stack)
    tools = stack.cfg.dev_tools
    name = args.secret or (tools and tools.openbao.unseal_key_secret) or openbao.UNSEAL_KEY_SECRET
    for subject in sorted(map(str, readers([o.body for o in stack.objects], args.namespace, name))):
        print(subject)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
