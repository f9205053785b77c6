"""Argo CD projects: a child Application can deploy only what its project allows, and one that
names Argo CD's `default` project can deploy nothing.

The oracle below is Argo CD's own permission logic (v3.4, pkg/apis/application/v1alpha1:
`AppProject.IsSourcePermitted`, `IsDestinationPermitted`, `IsGroupKindPermitted` and
`isResourceInList`), restated: an Application syncs a resource only when its source repository,
its destination (server and namespace) and the resource's group/kind are all permitted. Group/kind
matching is `filepath.Match`, repositories and destinations glob patterns (`*`). Older Argo CD
releases read an empty cluster whitelist as "everything"; `LEGACY` runs the same checks under
that reading, and the locked project must deny under both.

Verifies, for both stacks, on the specs the program registers: the `default` project is taken
over by a forced server-side-apply patch after Argo CD is ready, before the root Application; a
copy of every generated child Application naming `default` is denied its source, its
destination and every kind, namespaced or cluster-wide (the kinds the rendered stack holds, plus
wildcards), under both readings; the same children under their real project are permitted
exactly the kinds the apps project whitelists, into plate-<env> only (so the oracle is not
trivially false), and no cluster-scoped kind (the Namespace least of all) under either reading;
plate-<env> itself is the program's (restricted Pod Security, default-deny ingress), created
through a provider that adopts the namespace Argo CD created in older environments, and only
that namespace goes through it; no Application asks Argo CD to create or label a namespace.
Sync impersonation: both projects map their one destination to a ServiceAccount in that
destination namespace (Argo CD's `deriveServiceAccountToImpersonate`, restated), which the
program creates with a Role there granting the sync verbs on exactly the project's whitelisted
kinds, bound by a RoleBinding to that account alone, before the root Application; nothing binds
them cluster-wide. Everything the program creates in plate-<env> is on the orphan ignore list.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import ConfigError, parse_platform_config, read_stack_file
from components.gitops import apps as gitops
from components.tools import catalog
from tests.harness import ROOT, STACKS, recorded

IN_CLUSTER = "https://kubernetes.default.svc"
PROBE_KINDS = [
    # (group, kind, namespaced): what a hostile child would want, and what the plate charts use
    ("", "Secret", True), ("", "ConfigMap", True), ("apps", "Deployment", True),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding", False),
    ("rbac.authorization.k8s.io", "RoleBinding", True),
    ("apiextensions.k8s.io", "CustomResourceDefinition", False), ("", "Namespace", False),
    ("argoproj.io", "Application", True), ("argoproj.io", "AppProject", True),
    ("networking.k8s.io", "NetworkPolicy", True), ("admissionregistration.k8s.io",
                                                   "MutatingWebhookConfiguration", False),
]


def _glob(pattern: str, value: str) -> bool:
    """Argo CD's glob.Match for repositories and destinations: `*` matches any run."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), value) is not None


def _in_list(group: str, kind: str, items: list[dict[str, str]] | None) -> bool:
    return any(
        fnmatch.fnmatchcase(kind, item["kind"]) and fnmatch.fnmatchcase(group, item["group"])
        for item in items or []
    )


def source_permitted(spec: dict[str, Any], repo: str) -> bool:
    patterns = spec.get("sourceRepos") or []
    return any(_glob(p, repo) for p in patterns if not p.startswith("!")) and not any(
        _glob(p[1:], repo) for p in patterns if p.startswith("!")
    )


def destination_permitted(spec: dict[str, Any], server: str, namespace: str) -> bool:
    return any(
        _glob(d.get("server", ""), server) and _glob(d.get("namespace", ""), namespace)
        for d in spec.get("destinations") or []
    )


def kind_permitted(
    spec: dict[str, Any], group: str, kind: str, namespaced: bool, legacy: bool = False
) -> bool:
    if namespaced:
        whitelist = spec.get("namespaceResourceWhitelist")
        listed = not whitelist or _in_list(group, kind, whitelist)
        return listed and not _in_list(group, kind, spec.get("namespaceResourceBlacklist"))
    whitelist = spec.get("clusterResourceWhitelist")
    listed = (legacy and not whitelist) or _in_list(group, kind, whitelist)
    return listed and not _in_list(group, kind, spec.get("clusterResourceBlacklist"))


def _specs(stack: str) -> dict[str, dict[str, Any]]:
    rec = recorded(stack)
    projects = {r.plain("metadata")["name"]: r for r in rec.resources
                if r.type.startswith("kubernetes:argoproj.io/v1alpha1:AppProject")}
    return {name: r.plain("spec") for name, r in projects.items()}


def _children(stack: str) -> list[dict[str, Any]]:
    folder = Path(ROOT) / "environments" / "argocd" / "apps" / stack
    return [yaml.safe_load(path.read_text()) for path in sorted(folder.glob("*.yaml"))]


@pytest.mark.parametrize("stack", STACKS)
def test_the_default_project_is_locked_by_a_forced_patch_before_the_root_app(stack: str) -> None:
    rec = recorded(stack)
    patch = rec.one("kubernetes:argoproj.io/v1alpha1:AppProjectPatch", "default-project-locked")
    assert patch.plain("metadata") == {
        "name": "default", "namespace": "argocd",
        "annotations": {"pulumi.com/patchForce": "true"},
    }
    assert patch.plain("spec") == gitops.LOCKED_DEFAULT_PROJECT_SPEC
    assert "Chart/argo-cd" in rec.deps("AppProjectPatch/default-project-locked")
    assert "AppProjectPatch/default-project-locked" in rec.deps("Application/root-app")
    assert patch.protect is (stack == "prod")


@pytest.mark.parametrize("legacy", [False, True], ids=["argo-cd-3.4", "legacy-reading"])
@pytest.mark.parametrize("stack", STACKS)
def test_a_child_naming_default_can_deploy_nothing(stack: str, legacy: bool) -> None:
    locked = _specs(stack)["default"]
    children = _children(stack)
    assert len(children) == len(gitops.IN_HOUSE_APPS)
    for child in children:
        hostile = copy.deepcopy(child)
        hostile["spec"]["project"] = "default"
        source, dest = hostile["spec"]["source"], hostile["spec"]["destination"]
        assert not source_permitted(locked, source["repoURL"])
        assert not source_permitted(locked, "https://github.com/attacker/anything.git")
        assert not destination_permitted(locked, dest["server"], dest["namespace"])
        assert not destination_permitted(locked, IN_CLUSTER, "kube-system")
        for group, kind, namespaced in [*PROBE_KINDS, ("*", "*", True), ("*", "*", False)]:
            assert not kind_permitted(locked, group, kind, namespaced, legacy), (group, kind)


@pytest.mark.parametrize("stack", STACKS)
def test_the_children_under_their_own_project_may_deploy_what_it_whitelists(stack: str) -> None:
    specs = _specs(stack)
    for child in _children(stack):
        project = specs[child["spec"]["project"]]
        source, dest = child["spec"]["source"], child["spec"]["destination"]
        assert source_permitted(project, source["repoURL"])
        assert destination_permitted(project, dest["server"], dest["namespace"])
        assert dest["namespace"] == f"plate-{stack}"
        assert not destination_permitted(project, IN_CLUSTER, "kube-system")
        whitelisted = {(g, k) for g, k, _ in gitops.APP_NAMESPACED_KINDS}
        for legacy in (False, True):
            allowed = {(g, k) for g, k, namespaced in PROBE_KINDS
                       if kind_permitted(project, g, k, namespaced, legacy)}
            assert allowed == {(g, k) for g, k, _ in PROBE_KINDS if (g, k) in whitelisted}
            assert not kind_permitted(project, "", "Namespace", False, legacy)
            assert not kind_permitted(project, "*", "*", False, legacy)
        # Argo CD neither creates nor relabels the namespace (the program owns it)
        assert child["spec"]["syncPolicy"] == {"automated": {"prune": True, "selfHeal": True}}


@pytest.mark.parametrize("stack", STACKS)
def test_the_apps_namespace_is_adopted_where_argo_cd_created_it(stack: str) -> None:
    rec = recorded(stack)
    ns = rec.named(f"Namespace/plate-{stack}")
    adopter = rec.named("kubernetes/apps-namespace-adopter")
    assert adopter.plain("upsertExistingObjects") == "true"
    assert adopter.plain("context") == f"plate-{stack}"
    assert ns.provider.startswith(adopter.urn + "::")
    assert ns.plain("metadata", "labels")["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns.protect is (stack == "prod")
    # nothing else adopts: every other resource uses the stack's provider or its parent's
    assert [r.name for r in rec.resources if r.provider.startswith(adopter.urn)] == [
        f"plate-{stack}"
    ]
    policies = {r.plain("metadata")["name"] for r in rec.resources
                if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
                and r.plain("metadata")["namespace"] == f"plate-{stack}"}
    assert policies == {
        p["metadata"]["name"] for p in catalog.network_policies("argocd", stack, [f"plate-{stack}"])
    }
    assert {"default-deny-ingress", "allow-acme-solver-from-ingress"} <= policies


@pytest.mark.parametrize("stack", STACKS)
def test_the_programs_own_objects_are_not_orphans_of_the_apps(stack: str) -> None:
    """Everything the program creates in plate-<env> (the internal CA's ConfigMap, the
    NetworkPolicies, the sync identity and its RBAC) is on the apps project's orphan ignore
    list, and nothing else is, so the child Applications show no permanent warning."""
    rec = recorded(stack)
    ns = f"plate-{stack}"
    created = sorted(
        (r.type.split(":")[1].rpartition("/")[0].removeprefix("core"), r.type.split(":")[2],
         r.plain("metadata")["name"])
        for r in rec.resources
        if r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm")
        and (r.inputs.get("metadata") or {}).get("namespace") == ns
    )
    (project,) = [r for r in rec.by_type("kubernetes:argoproj.io/v1alpha1:AppProject")
                  if r.inputs["metadata"]["name"] == ns]
    orphaned = project.inputs["spec"]["orphanedResources"]
    assert orphaned["warn"] is True
    assert sorted((i["group"], i["kind"], i["name"]) for i in orphaned["ignore"]) == created
    assert [(g, k, n) for g, k, n in created if k != "NetworkPolicy"] == [
        ("", "ConfigMap", "plate-internal-ca"),
        ("", "ServiceAccount", "argocd-sync"),
        ("rbac.authorization.k8s.io", "Role", "argocd-sync"),
        ("rbac.authorization.k8s.io", "Role", "plate-people-developers"),
        ("rbac.authorization.k8s.io", "RoleBinding", "argocd-sync"),
        ("rbac.authorization.k8s.io", "RoleBinding", "plate-people-developers"),
    ]
    policy = "networking.k8s.io", "NetworkPolicy"
    assert {(*policy, "default-deny-ingress"), (*policy, "allow-acme-solver-from-ingress")} <= \
        set(created)


def impersonated(project: dict[str, Any], app: dict[str, Any]) -> str:
    """Argo CD's `deriveServiceAccountToImpersonate` (v3.4.4 controller/sync.go), restated: the
    first destinationServiceAccounts entry whose server and namespace globs match the
    Application's destination; `ns:name` as given, a bare name in the destination namespace;
    no match is a sync error."""
    dest = app["spec"]["destination"]
    for item in project.get("destinationServiceAccounts") or []:
        if _glob(item["server"], dest["server"]) and _glob(item["namespace"], dest["namespace"]):
            account = item["defaultServiceAccount"]
            if ":" in account:
                return f"system:serviceaccount:{account}"
            return f"system:serviceaccount:{dest['namespace'] or app['metadata']['namespace']}:"\
                   f"{account}"
    raise LookupError(f"no service account for {dest}")


RBAC = "kubernetes:rbac.authorization.k8s.io/v1:"


def _identity(rec: Any, label: str) -> tuple[str, list[dict[str, Any]]]:
    """(`system:serviceaccount:<ns>:<name>`, rules) of the ServiceAccount `label` registers,
    checking that its RoleBinding binds exactly that account to its Role in its namespace."""
    account = rec.named(f"ServiceAccount/{label}")
    meta = account.plain("metadata")
    assert account.plain("automountServiceAccountToken") is False
    role = rec.named(f"Role/{label}")
    binding = rec.named(f"RoleBinding/{label}")
    assert role.plain("metadata") == meta == binding.plain("metadata")
    assert binding.plain("roleRef") == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": meta["name"]
    }
    assert binding.plain("subjects") == [
        {"kind": "ServiceAccount", "name": meta["name"], "namespace": meta["namespace"]}
    ]
    return f"system:serviceaccount:{meta['namespace']}:{meta['name']}", role.plain("rules")


def _granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


@pytest.mark.parametrize("stack", STACKS)
def test_argo_cd_syncs_each_child_and_the_root_as_a_namespaced_identity(stack: str) -> None:
    rec = recorded(stack)
    specs = _specs(stack)
    apps_account, apps_rules = _identity(rec, "apps-sync")
    root_account, root_rules = _identity(rec, "root-sync")
    assert apps_account == f"system:serviceaccount:plate-{stack}:argocd-sync"
    assert root_account == f"system:serviceaccount:argocd:plate-{stack}-apps-sync"
    for child in _children(stack):
        assert impersonated(specs[child["spec"]["project"]], child) == apps_account
    root = rec.named("Application/root-app")
    root_app = {"metadata": root.plain("metadata"), "spec": root.plain("spec")}
    assert impersonated(specs[f"plate-{stack}-bootstrap"], root_app) == root_account
    # a destination the projects do not name has no identity: its sync fails
    with pytest.raises(LookupError):
        impersonated(specs[f"plate-{stack}"], {"metadata": {"namespace": "argocd"}, "spec": {
            "destination": {"server": IN_CLUSTER, "namespace": "kube-system"}}})
    verbs = {"get", "list", "watch", "create", "update", "patch", "delete"}
    # exactly the sync verbs on exactly the whitelisted kinds, as resources
    assert _granted(apps_rules) == {
        (g, r, v) for g, _, r in gitops.APP_NAMESPACED_KINDS for v in verbs
    }
    assert {(i["group"], i["kind"]) for i in specs[f"plate-{stack}"]
            ["namespaceResourceWhitelist"]} == {(g, k) for g, k, _ in gitops.APP_NAMESPACED_KINDS}
    assert _granted(root_rules) == {("argoproj.io", "applications", v) for v in verbs}
    assert all("resourceNames" not in rule and "nonResourceURLs" not in rule
               for rule in apps_rules + root_rules)
    # nothing binds either identity (or its namespace's accounts) cluster-wide
    for r in rec.by_type(RBAC + "ClusterRoleBinding"):
        for subject in r.plain("subjects") or []:
            assert subject.get("namespace") not in {f"plate-{stack}"} and \
                subject.get("name") not in {"argocd-sync", f"plate-{stack}-apps-sync"}, r.name
    # the identities exist before Argo CD syncs anything
    for label in ("apps-sync", "root-sync"):
        assert {f"ServiceAccount/{label}", f"Role/{label}", f"RoleBinding/{label}"} <= \
            rec.deps("Application/root-app")
    assert "Namespace/plate-" + stack in rec.deps("ServiceAccount/apps-sync")


def test_an_apps_only_stack_must_name_the_internal_ca() -> None:
    """The apps' SecretStores verify OpenBao against the CA; without tier 1 only the config can
    say which (the program writes it into plate-<env> as the ConfigMap the stores read)."""
    raw = read_stack_file(Path(ROOT) / "Pulumi.stg.yaml")
    raw["tiers"] = ["applications"]
    raw.pop("dev_tools")
    raw.pop("dns", None)
    with pytest.raises(ConfigError) as refused:
        parse_platform_config(raw)
    assert refused.value.problems == [
        "tls.internal_ca: required when the stack owns applications but not cluster_services: "
        "set tls.internal_ca.certificate to the CA the other stack's `plate-internal-ca` issuer "
        "signs with (the apps' SecretStores verify OpenBao against it)"
    ]
