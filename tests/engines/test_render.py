"""What the cluster receives: every chart rendered the way a v4 Chart renders it, for both stacks.

Verifies: both stacks render with 0 problems (schemas, references, Pod Security, image pins,
hooks, CrossGuard rules over every rendered child); two renders a second apart are byte-identical
(nothing random or time-based: no perpetual diff); each check finds what it is for (one broken
object each); the three defects found by rendering stay fixed (Argo CD's admin password mtime,
MetalLB's FRR-K8s, Fluentd's undefined password variable); CRDs are included and hooks dropped as
the provider does; the render command writes one file per object atomically, diffs object by
object, and fails with one line on a missing chart or values a chart's schema rejects; the
Alertmanager configuration kube-prometheus-stack renders for prod is the platform's routing, reads
its credentials from the mounted receivers' Secret and holds none itself; Velero's OpenBao
schedule selects the snapshot volume and its shelf and never the raft volumes.
"""

from __future__ import annotations

import base64
import copy
import re
import time
from typing import Any

import pytest
import yaml

from components import versions
from components.tools.kube_prometheus_stack import alertmanager
from components.tools.openbao import backup as openbao_backup
from tests.harness import STACKS, rendered
from tooling import render, verify
from tooling.evaluate import stack_config
from tooling.render import Obj, Release, RenderError


@pytest.fixture(scope="module", params=STACKS)
def stack(request) -> render.StackRender:
    return _rendered(request.param)


def _rendered(name: str) -> render.StackRender:
    return rendered(name)


def one(stack: render.StackRender, kind: str, name: str) -> Obj:
    found = [o for o in stack.objects if o.kind == kind and o.name == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)}"
    return found[0]


def test_the_stack_renders_with_no_problems(stack):
    assert verify.problems(stack) == []


def test_every_tier_and_chart_is_rendered(stack):
    sources = {(o.tier, o.source) for o in stack.objects}
    assert sources == {
        ("cluster-services", "cert-manager"), ("cluster-services", "metallb"),
        ("cluster-services", "csi-driver-nfs"), ("cluster-services", "program"),
        ("cluster-services", "traefik"), ("dev-tools", "external-secrets"),
        ("dev-tools", "argo-cd"), ("dev-tools", "harbor"), ("dev-tools", "kube-prometheus-stack"),
        ("dev-tools", "fluentd"), ("dev-tools", "openbao"), ("dev-tools", "program"),
        ("dev-tools", "velero"),
        ("applications", "program"),
    }


def test_crds_come_from_templates_and_crds_folders_of_enabled_subcharts(stack):
    groups: dict[str, int] = {}
    for o in stack.objects:
        if o.kind == "CustomResourceDefinition":
            group = o.body["spec"]["group"]
            groups[group] = groups.get(group, 0) + 1
    # kube-prometheus-stack's CRDs live in its `crds` subchart's crds/ folder (not templates)
    # Traefik's, Velero's and the Prometheus Operator's live in crds/ folders, the others in
    # templates
    assert groups == {
        "cert-manager.io": 4, "acme.cert-manager.io": 2, "metallb.io": 9, "argoproj.io": 3,
        "monitoring.coreos.com": 10, "traefik.io": 10, "hub.traefik.io": 15,
        "external-secrets.io": 6, "generators.external-secrets.io": 19, "velero.io": 13,
    }


def test_hooks_are_dropped_and_each_has_its_compensation(stack):
    hooks = {(h.source, h.kind, h.name) for h in stack.hooks}
    assert hooks == set(verify.HOOKS)
    rendered = {(o.source, o.kind, o.name) for o in stack.objects}
    assert not hooks & rendered


def test_namespaced_chart_objects_get_the_charts_namespace(stack):
    for o in stack.objects:
        if o.source != "program" and o.kind not in render.CLUSTER_SCOPED | {"ClusterIssuer"}:
            assert o.namespace, o.ref
    assert one(stack, "Deployment", "cert-manager").namespace == "cert-manager"


def test_production_protects_the_chart_children_that_hold_data():
    prod = _rendered("prod")
    protected = {o.kind for o in prod.objects if o.protect and o.source != "program"}
    assert protected == {"CustomResourceDefinition", "PersistentVolumeClaim"}
    assert not any(o.protect for o in _rendered("stg").objects)


def test_two_renders_a_second_apart_are_byte_identical():
    # prod only: both stacks install the same charts, and prod sets every option stg does; the
    # objects, not their files: `files()` only serialises them, sorted
    def by_ref(objects: list[Obj]) -> dict[tuple[str, str], dict[str, Any]]:
        keyed = {(o.source, o.ref): o.body for o in objects}
        assert len(keyed) == len(objects)
        return keyed

    first = by_ref(_rendered("prod").objects)
    start = int(time.time())
    while int(time.time()) == start:  # cross a second boundary: Helm's `now` has 1 s resolution
        time.sleep(0.05)
    assert by_ref(render.render_stack("prod").objects) == first


# --- the three defects rendering found ---------------------------------------------------------


def test_argocd_admin_password_mtime_is_the_rotation_date_not_the_render_time(stack):
    secret = one(stack, "Secret", "argocd-secret")
    mtime = base64.b64decode(secret.body["data"]["admin.passwordMtime"]).decode()
    assert mtime == "2026-01-01T00:00:00Z"


def test_metallb_deploys_no_frr_k8s(stack):
    metallb = [o for o in stack.objects if o.source == "metallb"]
    assert [o.name for o in metallb if "frr" in o.name.lower()] == []
    assert sorted(o.name for o in metallb if o.kind in ("DaemonSet", "Deployment")) == [
        "metallb-controller", "metallb-speaker",
    ]


def test_fluentd_defines_every_environment_variable_its_configuration_reads(stack):
    config = "".join(
        text for o in stack.objects if o.source == "fluentd" and o.kind == "ConfigMap"
        for text in (o.body.get("data") or {}).values()
    )
    read = set(re.findall(r"ENV\['([A-Z0-9_]+)'\]", config))
    assert read == {"FLUENT_OUTPUT_PASSWORD"}  # both stacks send to an authenticated backend
    (daemonset,) = [o for o in stack.objects if o.source == "fluentd" and o.kind == "DaemonSet"]
    (container,) = daemonset.body["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert read <= env.keys()
    assert env["FLUENT_OUTPUT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "fluentd-output", "key": "password",
    }


# --- each check finds what it is for -----------------------------------------------------------


def _with(stack: render.StackRender, kind: str, name: str, change) -> list[Obj]:
    """The stack's objects with one object's body changed by `change(body)`."""
    target = one(stack, kind, name)
    body = copy.deepcopy(target.body)
    change(body)
    changed = Obj(target.tier, target.source, target.origin, body, target.protect)
    return [changed if o is target else o for o in stack.objects]


def _pod(body):
    return body["spec"]["template"]["spec"]


def test_schema_check_rejects_an_unknown_field_in_a_builtin_and_a_custom_kind():
    stg = _rendered("stg")
    objects = _with(stg, "Deployment", "cert-manager", lambda b: b["spec"].update(replica=2))
    objects = [
        *objects,
        Obj("x", "x", "x", {"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                            "metadata": {"name": "i", "namespace": "x"},
                            "spec": {"selfSgned": {}}}),
        Obj("x", "x", "x", {"apiVersion": "example.com/v1", "kind": "Thing",
                            "metadata": {"name": "t"}}),
    ]
    assert list(verify.schema_problems(objects)) == [
        "schema: Deployment cert-manager/cert-manager (cert-manager): spec: Additional properties "
        "are not allowed ('replica' was unexpected)",
        "schema: Issuer x/i (x): spec: Additional properties are not allowed ('selfSgned' was "
        "unexpected)",
        "schema: Thing t (x): no CRD in the stack defines example.com/v1 Thing",
    ]


def test_reference_check_finds_what_nothing_creates():
    stg = _rendered("stg")

    def break_refs(body):
        spec = _pod(body)
        spec["serviceAccountName"] = "ghost"
        spec["containers"][0]["env"] = [
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}},
            {"name": "B",
             "valueFrom": {"secretKeyRef": {"name": "maybe", "key": "k", "optional": True}}},
        ]

    objects = _with(stg, "Deployment", "cert-manager", break_refs)
    objects = _with(
        render.StackRender(stg.stack, stg.cfg, stg.recording, stg.releases, objects),
        "Ingress", "harbor-ingress",
        lambda b: b["metadata"]["annotations"].update({"cert-manager.io/cluster-issuer": "typo"}),
    )
    assert list(verify.reference_problems(objects, verify.prerequisites(stg.cfg))) == [
        "references: Deployment cert-manager/cert-manager (cert-manager) names Secret "
        "cert-manager/missing, which nothing creates",
        "references: Deployment cert-manager/cert-manager (cert-manager) names ServiceAccount "
        "cert-manager/ghost, which nothing creates",
        "references: Ingress harbor/harbor-ingress (harbor) names ClusterIssuer typo, which "
        "nothing creates",
    ]
    # Traefik's chart renders the stack's IngressClass; without it, the class would be missing
    assert one(stg, "IngressClass", "traefik").source == "traefik"
    without = [o for o in stg.objects if o.kind != "IngressClass"]
    assert any("IngressClass traefik" in p for p in verify.reference_problems(without, {}))


def test_pod_security_check_holds_pods_to_their_namespace_level():
    stg = _rendered("stg")
    objects = _with(stg, "Deployment", "cert-manager", lambda b: _pod(b).update(hostNetwork=True))
    found = list(verify.pod_security_problems(objects, verify.namespace_levels(objects)))
    assert found == [
        "pod-security: Deployment cert-manager/cert-manager (cert-manager) in a restricted "
        "namespace: baseline: pod must not set hostNetwork=true"
    ]


def test_image_check_rejects_an_unpinned_image():
    stg = _rendered("stg")
    objects = _with(
        stg, "Deployment", "cert-manager",
        lambda b: _pod(b)["containers"][0].update(image="quay.io/jetstack/cert-manager-controller"),
    )
    assert list(verify.image_problems(objects)) == [
        "images: Deployment cert-manager/cert-manager (cert-manager) container "
        "'cert-manager-controller' runs 'quay.io/jetstack/cert-manager-controller': pin a tag or "
        "digest"
    ]


def test_monitor_check_finds_selectors_and_ports_that_match_nothing():
    stg = _rendered("stg")
    scraped = {(o.kind, o.namespace, o.name) for o in stg.objects
               if o.group == "monitoring.coreos.com" and o.source == "program"}
    assert scraped == {
        ("ServiceMonitor", "velero", "velero"), ("PodMonitor", "velero", "velero-node-agent"),
        ("ServiceMonitor", "metallb-system", "metallb-metrics"),
        ("ServiceMonitor", "cert-manager", "cert-manager"), ("ServiceMonitor", "argocd", "argo-cd"),
        ("ServiceMonitor", "harbor", "harbor"), ("ServiceMonitor", "openbao", "openbao"),
        ("ServiceMonitor", "logging", "fluentd"),
        ("ServiceMonitor", "external-secrets", "external-secrets"),
        ("PodMonitor", "traefik", "traefik"), ("PodMonitor", "external-dns", "external-dns"),
        ("PrometheusRule", "monitoring", "platform-alerts"),
    }
    objects = _with(stg, "ServiceMonitor", "harbor",
                    lambda b: b["spec"]["endpoints"][0].update(port="metrics"))
    objects = _with(
        render.StackRender(stg.stack, stg.cfg, stg.recording, stg.releases, objects),
        "PodMonitor", "traefik",
        lambda b: b["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "x"}),
    )
    assert sorted(verify.monitor_problems(objects)) == [
        "monitors: PodMonitor traefik/traefik (program) selects nothing",
        "monitors: ServiceMonitor harbor/harbor (program) selects nothing with port(s) metrics",
    ]


def test_hook_without_compensation_is_a_problem():
    stg = _rendered("stg")
    extra = render.Hook("argo-cd", "Job", "argo-cd-redis-secret-init", "pre-install")
    broken = render.StackRender(
        stg.stack, stg.cfg, stg.recording, stg.releases, stg.objects, [*stg.hooks, extra]
    )
    assert list(verify.hook_problems(broken)) == [
        "hooks: argo-cd renders Job argo-cd-redis-secret-init (pre-install), which a v4 Chart "
        "skips: name the program's compensation in tooling/verify.py HOOKS"
    ]


def test_policy_rules_run_on_chart_children_as_a_preview_would():
    prod = _rendered("prod")
    objects = _with(prod, "Ingress", "harbor-ingress", lambda b: b["spec"].pop("tls"))
    objects = _with(
        render.StackRender(prod.stack, prod.cfg, prod.recording, prod.releases, objects),
        "ConfigMap", "harbor-core", lambda b: b["data"].update(DB_PASSWORD="x"),
    )
    broken = render.StackRender(prod.stack, prod.cfg, prod.recording, prod.releases, objects)
    assert list(verify.policy_problems(broken)) == [
        "policy no-plaintext-secrets: ConfigMap harbor/harbor-core (harbor): ConfigMap key "
        "'DB_PASSWORD' looks like a secret: use a Secret",
        "policy ingress-tls: Ingress harbor/harbor-ingress (harbor): Ingress has no TLS section",
    ]
    crd = one(prod, "CustomResourceDefinition", "issuers.cert-manager.io")
    child = verify.policy_resource(prod, crd)
    assert child.production and child.protect
    assert child.urn.startswith("urn:pulumi:prod::plate-platform::")


# --- the command -------------------------------------------------------------------------------


def test_render_command_writes_one_file_per_object_and_diffs(tmp_path, capsys, monkeypatch):
    stg = _rendered("stg")
    # the render itself is tested above; here: what the command writes, prints and compares
    monkeypatch.setattr(render, "render_stack", lambda stack: stg)
    # an earlier render with one object changed, one missing and one extra
    expected = stg.files()
    before = dict(expected)
    before["cluster-services/cert-manager/Deployment.cert-manager.yaml"] = "old: 1\n"
    del before["dev-tools/harbor/Service.harbor-core.yaml"]
    before["dev-tools/harbor/Service.gone.yaml"] = "kind: Service\n"
    render.write_tree(before, tmp_path / "before")
    out = tmp_path / "after"
    before_dir = str(tmp_path / "before")
    assert render.main(["--stack", "stg", "--out", str(out), "--diff", before_dir]) == 0
    printed = capsys.readouterr().out

    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml"))
    assert files == sorted(expected) and len(files) == len(stg.objects)
    assert render.read_tree(out) == expected
    assert "cluster-services/cert-manager/Deployment.cert-manager.yaml" in files
    assert re.search(rf"^total +{len(stg.objects)}$", printed, re.M)
    assert printed.rstrip().endswith("0 problems")
    assert "placeholder-" not in printed and "mock-" not in printed
    assert "changes against" in printed and ": 3 objects" in printed
    assert "~ cluster-services/cert-manager/Deployment.cert-manager.yaml" in printed
    assert "+ dev-tools/harbor/Service.harbor-core.yaml" in printed
    assert "- dev-tools/harbor/Service.gone.yaml" in printed
    assert "    -old: 1" in printed


def test_a_chart_version_found_nowhere_is_one_line_and_nothing_is_written(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.yaml").write_text("kept: true\n")
    config = copy.deepcopy(stack_config("stg"))
    config["chart_versions"] = {"harbor": "1.99.0"}
    monkeypatch.setattr(render, "stack_config", lambda stack: config)
    assert render.main(["--stack", "stg", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("error: ") and "harbor" in line and "1.99.0" in line
    assert "upstream.lock.yaml" in line and "uv run python -m tooling.upstream fetch" in line
    assert [p.name for p in out.iterdir()] == ["keep.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_values_a_charts_schema_rejects_name_the_chart_and_key_path():
    release = Release("cluster-services", "cert-manager", "cert-manager", "v1.21.1",
                      "cert-manager", {"startupapicheck": {"enabeld": False}})
    with pytest.raises(RenderError) as exc:
        render.render_release(release, (), render.CLUSTER_SCOPED, production=False)
    assert str(exc.value) == (
        "chart cert-manager v1.21.1 (cert-manager): values don't meet the specifications of the "
        "schema(s) in the following chart(s): cert-manager: - at '/startupapicheck': additional "
        "properties 'enabeld' not allowed"
    )


def test_write_tree_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "r"
    render.write_tree({"a/x.yaml": "1\n", "b.yaml": "2\n"}, out)
    render.write_tree({"a/y.yaml": "3\n"}, out)
    assert render.read_tree(out) == {"a/y.yaml": "3\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_the_prod_render_hands_alertmanager_its_routing_and_no_credential() -> None:
    stack = _rendered("prod")
    by_ref = {(o.kind, o.namespace, o.name): o for o in stack.objects}
    rendered = by_ref[("Secret", "monitoring", "alertmanager-kube-prometheus-stack-alertmanager")]
    text = base64.b64decode(rendered.body["data"]["alertmanager.yaml"]).decode()
    config = yaml.safe_load(text)
    expected = alertmanager.alertmanager_config(
        stack.cfg.dev_tools.monitoring.alerts,  # type: ignore[union-attr]
        {"alertmanager_smtp_password"},
    )
    assert config["route"] == expected["route"]
    assert config["receivers"] == expected["receivers"]
    assert "placeholder-" not in text  # the evaluated stack's stand-in secrets
    # the chart's own inhibition rules and templates are kept
    assert len(config["inhibit_rules"]) == 4
    assert config["templates"] == ["/etc/alertmanager/config/*.tmpl"]
    # the Secret the configuration reads is mounted, and holds exactly what it reads
    am = by_ref[("Alertmanager", "monitoring", "kube-prometheus-stack-alertmanager")]
    assert am.body["spec"]["secrets"] == ["alertmanager-receivers"]
    receivers_secret = by_ref[("Secret", "monitoring", "alertmanager-receivers")]
    assert set(receivers_secret.body["stringData"]) == {"smtp-password"}
    assert _file_settings(config) == [f"{alertmanager.SECRETS_DIR}/smtp-password"] * 2


def _file_settings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [
            found
            for key, value in node.items()
            for found in ([value] if key.endswith("_file") else _file_settings(value))
        ]
    if isinstance(node, list):
        return [found for item in node for found in _file_settings(item)]
    return []


def _selected(selector: dict[str, str], labels: dict[str, str] | None) -> bool:
    return all((labels or {}).get(k) == v for k, v in selector.items())


def test_the_openbao_schedule_takes_the_snapshots_and_never_the_raft_volumes() -> None:
    prod = _rendered("prod")
    schedule = next(o for o in prod.objects
                    if o.kind == "Schedule" and o.name == "velero-openbao-snapshots")
    selector = schedule.body["spec"]["template"]["labelSelector"]["matchLabels"]
    in_openbao = [o for o in prod.objects if o.namespace == "openbao"]
    taken = {(o.kind, o.name) for o in in_openbao if _selected(selector, o.body["metadata"].get(
        "labels"))}
    assert taken == {
        ("PersistentVolumeClaim", "openbao-snapshots"), ("Deployment", openbao_backup.SHELF),
        ("ServiceAccount", "openbao-snapshot"), ("CronJob", "openbao-snapshot"),
        ("ConfigMap", "openbao-snapshot-script"),
    }
    raft = next(o for o in in_openbao if o.kind == "StatefulSet")
    assert not _selected(selector, raft.body["spec"]["template"]["metadata"]["labels"])
    for claim in raft.body["spec"]["volumeClaimTemplates"]:
        assert not _selected(selector, claim["metadata"].get("labels"))
    shelf = next(o for o in in_openbao if o.kind == "Deployment" and o.name == openbao_backup.SHELF)
    template = shelf.body["spec"]["template"]
    assert _selected(selector, template["metadata"]["labels"])  # its pod is backed up, volume too
    assert template["metadata"]["annotations"] == {"backup.velero.io/backup-volumes": "snapshots"}
    # the daily schedule never names the openbao namespace
    tools = next(o for o in prod.objects if o.kind == "Schedule" and o.name == "velero-tools")
    assert "openbao" not in tools.body["spec"]["template"]["includedNamespaces"]
    # and the CronJob runs the image the OpenBao StatefulSet runs, Velero's restore helper
    # Velero's own (a chart bump that moves either makes this fail)
    assert raft.body["spec"]["template"]["spec"]["containers"][0]["image"] == (
        versions.OPENBAO_IMAGE
    )
    server = next(o for o in prod.objects if o.kind == "Deployment" and o.name == "velero")
    assert server.body["spec"]["template"]["spec"]["containers"][0]["image"] == (
        versions.VELERO_IMAGE
    )


def test_grafana_loads_the_platform_s_dashboards_and_kube_prometheus_stack_s_only(stack):
    # fluentd's chart ships one by default (dashboards.enabled: "true"): off, ours replaces it
    sources = {o.source for o in stack.objects if o.kind == "ConfigMap"
               and (o.body["metadata"].get("labels") or {}).get("grafana_dashboard")}
    assert sources == {"program", "kube-prometheus-stack"}


def test_whole_numbers_render_as_integers(stack):
    """The mock engine records every number as a double; the render writes what the provider
    sends the API server: `runAsUser: 65532`, not `65532.0` (which checkov read as a float and
    flagged as a low UID)."""
    floats = [
        (o.ref, path) for o in stack.objects if o.source == render.PROGRAM
        for path, value in _leaves(o.body) if isinstance(value, float) and value.is_integer()
    ]
    assert floats == []
    job = next(o for o in stack.objects
               if o.kind == "Job" and o.name == "cert-manager-webhook-ready")
    assert "runAsUser: 65532\n" in render.to_yaml(job.body)


def _leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, node)]
