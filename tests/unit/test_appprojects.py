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
trivially false); plate-<env> itself is the program's (restricted Pod Security, default-deny
ingress), created through a provider that adopts the namespace Argo CD created in older
environments, and only that namespace goes through it.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.gitops import apps as gitops
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
        allowed = {(g, k) for g, k, namespaced in PROBE_KINDS
                   if kind_permitted(project, g, k, namespaced)}
        assert allowed == {
            (g, k) for g, k, _ in PROBE_KINDS if (g, k) in set(gitops.APP_NAMESPACED_KINDS)
        } | {("", "Namespace")}


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
    assert policies == {"default-deny-ingress", "allow-acme-solver-from-ingress"}


@pytest.mark.parametrize("stack", STACKS)
def test_the_programs_own_policies_are_not_orphans_of_the_apps(stack: str) -> None:
    """Every NetworkPolicy the program creates in plate-<env> is on the apps project's orphan
    ignore list (and nothing else is), so the child Applications show no permanent warning."""
    rec = recorded(stack)
    ns = f"plate-{stack}"
    policies = rec.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    created = sorted(
        r.inputs["metadata"]["name"] for r in policies
        if r.inputs["metadata"].get("namespace") == ns
    )
    (project,) = [r for r in rec.by_type("kubernetes:argoproj.io/v1alpha1:AppProject")
                  if r.inputs["metadata"]["name"] == ns]
    orphaned = project.inputs["spec"]["orphanedResources"]
    assert orphaned["warn"] is True
    assert orphaned["ignore"] == [
        {"group": "networking.k8s.io", "kind": "NetworkPolicy", "name": name} for name in created
    ]
    assert created == ["allow-acme-solver-from-ingress", "default-deny-ingress"]
