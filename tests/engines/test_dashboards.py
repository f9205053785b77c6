"""The Grafana dashboards (components/observability/dashboards.py, which assembles overview.py and
components/tools/<tool>/dashboard.py, built on grafana.py's house style), checked with Prometheus'
own tools.

Verifies: every panel query and every variable's selector parses (`promtool check rules` on all
of them as recording rules; a failure names the dashboard and panel), and they use no Grafana
macro besides the dashboard's own variables; the key overview queries return exactly the
expected values on synthetic series (`promtool test rules`: days to certificate expiry with and
without `exported_namespace` and never-issued certificates left out, OpenBao seal state per pod
and active nodes, Applications per health status, ready ratio per namespace and the workloads
short of replicas); one dashboard per tool, exactly (Traefik only with Traefik); uids unique,
`plate-`, at most 40 characters and equal to the file name; titles unique and prefixed; the
common settings (tag, the pinned SDK's schemaVersion, time, refresh, not editable); every panel
and query on the `prometheus` datasource, panel ids unique, every panel titled and described;
panel types Grafana ships, queries instant except on time series, tables' in table format;
panels inside 24 columns and not overlapping, and a section whose panels would overflow the
grid refused; the JSON serialisable and under 256 KiB; the overview covers
Applications' health, certificate expiry, OpenBao's seal, storage use and firing alerts; every
metric name is one verified in the upstream source of the pinned version (table below), from a
source that dashboard may draw on; every metric the platform alerts use appears on a
dashboard; the stack's namespaces, StorageClass and alert thresholds reach the queries and
colours.

promtool comes from Debian's `prometheus` package (.ci/run installs it); without it the tests
fail, they never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import AlertThresholds
from components.observability import alerts, dashboards, grafana

PROMTOOL_TIMEOUT = 60
BOARDS = dashboards.dashboards(apps_namespace="plate-stg")
OVERVIEW = "plate-overview.json"
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}


def _histogram(name: str) -> set[str]:
    return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}


def _summary(name: str) -> set[str]:
    return {name, f"{name}_sum", f"{name}_count"}


# Metric names as the pinned versions expose them, read in the upstream source at the named tag.
VERIFIED: dict[str, set[str]] = {
    # cert-manager v1.21.1 (24e33194): internal/collectors/certificate_collector.go,
    # clusterissuer_collector.go, issuer_collector.go; pkg/metrics/metrics.go (namespace
    # "certmanager", ACME client under subsystem "http": a CounterVec and a SummaryVec)
    "cert-manager": {
        "certmanager_certificate_ready_status",
        "certmanager_certificate_expiration_timestamp_seconds",
        "certmanager_certificate_not_after_timestamp_seconds",
        "certmanager_certificate_renewal_timestamp_seconds",
        "certmanager_clusterissuer_ready_status",
        "certmanager_issuer_ready_status",
        "certmanager_http_acme_client_request_count",
        *_summary("certmanager_http_acme_client_request_duration_seconds"),
        "certmanager_controller_sync_call_count",
        "certmanager_controller_sync_error_count",
    },
    # MetalLB v0.16.1 (791dfcc6): internal/allocator/stats.go, internal/k8s/controllers/stats.go,
    # internal/layer2/stats.go, speaker/main.go
    "metallb": {
        "metallb_allocator_addresses_total",
        "metallb_allocator_addresses_in_use_total",
        "metallb_k8s_client_config_loaded_bool",
        "metallb_k8s_client_config_stale_bool",
        "metallb_layer2_requests_received",
        "metallb_layer2_responses_sent",
        "metallb_speaker_announced",
    },
    # Argo CD v3.4.4 (443415b5): controller/metrics/metrics.go, clustercollector.go,
    # reposerver/metrics/metrics.go
    "argocd": {
        "argocd_app_info",
        "argocd_app_sync_total",
        *_histogram("argocd_app_reconcile"),
        "argocd_cluster_connection_status",
        "argocd_git_request_total",
        *_histogram("argocd_git_request_duration_seconds"),
        "argocd_git_fetch_fail_total",
    },
    # Harbor v2.15.1 (335c05f2): src/pkg/exporter/*_collector.go (namespace "harbor");
    # src/lib/metric/collector.go, jobservice.go with METRIC_NAMESPACE harbor and
    # METRIC_SUBSYSTEM core / jobservice (harbor-helm v1.19.1 core-cm.yaml,
    # jobservice-cm-env.yaml). Registry: goharbor/distribution v2.8.3 registry/handlers/app.go
    # and vendored docker/go-metrics (namespace "registry", subsystem "http"),
    # registry/storage/driver/base/base.go (a go-metrics timer: a histogram "_seconds")
    "harbor": {
        "harbor_up",
        "harbor_health",
        "harbor_project_quota_usage_byte",
        "harbor_statistics_total_storage_consumption",
        "harbor_statistics_total_project_amount",
        "harbor_statistics_total_repo_amount",
        "harbor_task_queue_size",
        "harbor_task_queue_latency",
        "harbor_core_http_request_total",
        *_summary("harbor_core_http_request_duration_seconds"),
        "harbor_jobservice_task_total",
        "registry_http_requests_total",
        *_histogram("registry_http_request_duration_seconds"),
        *_histogram("registry_storage_action_seconds"),
    },
    # OpenBao v2.6.2 (dd9c19c3): vault/core_metrics.go, request_handling.go, ha.go,
    # expiration.go, audit_broker.go, physical/raft/raft_autopilot_delegate.go; names through
    # hashicorp/go-metrics v0.5.4 prometheus/prometheus.go ("vault" + key joined by "_",
    # MeasureSince -> a summary with _sum/_count)
    "openbao": {
        "vault_core_unsealed",
        "vault_core_active",
        "vault_core_in_flight_requests",
        *_summary("vault_core_handle_request"),
        *_summary("vault_core_handle_login_request"),
        *_summary("vault_core_leadership_lost"),
        "vault_expire_num_leases",
        "vault_audit_log_request_failure",
        "vault_audit_log_response_failure",
        "vault_autopilot_healthy",
        "vault_autopilot_failure_tolerance",
    },
    # fluent-plugin-prometheus v2.2.2 (3dd0c3af; the Gemfile.lock of fluentd-kubernetes-daemonset
    # v1.19.3-1.1, the image of the fluentd chart 0.6.0): in_prometheus_output_monitor.rb; the
    # records counter is the chart's default 03_dispatch.conf
    "fluentd": {
        "fluentd_input_status_num_records_total",
        "fluentd_output_status_emit_records",
        "fluentd_output_status_num_errors",
        "fluentd_output_status_retry_count",
        "fluentd_output_status_buffer_total_bytes",
        "fluentd_output_status_buffer_queue_length",
    },
    # External Secrets v2.9.0 (378bdb62): pkg/controllers/externalsecret/esmetrics/esmetrics.go,
    # pkg/controllers/secretstore/cssmetrics/cssmetrics.go, runtime/metrics/metrics.go
    "external-secrets": {
        "externalsecret_status_condition",
        "externalsecret_sync_calls_total",
        "externalsecret_sync_calls_error",
        "externalsecret_reconcile_duration",
        "externalsecret_provider_api_calls_count",
        "clustersecretstore_status_condition",
    },
    # Traefik v3.7.9 (d0bd2ec1; the chart's v3.7.11 is not in the snapshot, and v3.7 patch
    # releases keep the names): pkg/observability/metrics/prometheus.go
    "traefik": {
        "traefik_entrypoint_requests_total",
        *_histogram("traefik_entrypoint_request_duration_seconds"),
        "traefik_service_requests_total",
        *_histogram("traefik_service_request_duration_seconds"),
        "traefik_open_connections",
        "traefik_config_reloads_total",
        "traefik_config_last_reload_success",
        "traefik_tls_certs_not_after",
    },
    # kube-state-metrics v2.20.0 (4ffeda2e; kube-prometheus-stack 88.5.3's subchart 8.4.0):
    # internal/store/{deployment,statefulset,daemonset,persistentvolumeclaim,pod,service,job}.go
    "kube-state-metrics": {
        "kube_deployment_spec_replicas",
        "kube_deployment_status_replicas_available",
        "kube_statefulset_replicas",
        "kube_statefulset_status_replicas_ready",
        "kube_daemonset_status_desired_number_scheduled",
        "kube_daemonset_status_number_available",
        "kube_daemonset_status_number_unavailable",
        "kube_persistentvolumeclaim_info",
        "kube_persistentvolumeclaim_status_phase",
        "kube_persistentvolumeclaim_resource_requests_storage_bytes",
        "kube_pod_container_status_restarts_total",
        "kube_service_spec_type",
        "kube_service_status_load_balancer_ingress",
        "kube_job_failed",
        "kube_cronjob_status_last_successful_time",  # internal/store/cronjob.go
        "kube_cronjob_created",
        "kube_pod_start_time",  # internal/store/pod.go
    },
    # Velero v1.18.1 pkg/metrics/metrics.go, as the pinned chart's (12.1.0) values.yaml example
    # PrometheusRule names them (namespace "velero", label `schedule`)
    "velero": {"velero_backup_last_status", "velero_backup_last_successful_timestamp"},
    # kubernetes pkg/kubelet/metrics/collectors/volume_stats.go (subsystem "kubelet")
    "kubelet": {
        "kubelet_volume_stats_capacity_bytes",
        "kubelet_volume_stats_available_bytes",
        "kubelet_volume_stats_used_bytes",
    },
    # Prometheus itself: `up` for every target, ALERTS from rule evaluation
    "prometheus": {"up", "ALERTS"},
    # external-dns v0.22.0 controller/metrics.go (namespace "external_dns"), as
    # docs/monitoring/metrics.md lists them
    "external-dns": {
        "external_dns_controller_last_sync_timestamp_seconds",
        "external_dns_controller_consecutive_soft_errors",
        "external_dns_source_records",
        "external_dns_registry_records",
        "external_dns_source_errors_total",
        "external_dns_registry_errors_total",
    },
}

WORKLOADS = ("kube-state-metrics",)
SOURCES: dict[str, tuple[str, ...]] = {
    # which sources each dashboard may draw on (every tool dashboard shows its workloads)
    OVERVIEW: (
        "cert-manager", "argocd", "openbao", "kube-state-metrics", "kubelet", "prometheus",
        "velero",
    ),
    "plate-cert-manager.json": ("cert-manager", *WORKLOADS),
    "plate-metallb.json": ("metallb", *WORKLOADS),
    "plate-nfs-storage.json": ("kubelet", *WORKLOADS),
    "plate-argocd.json": ("argocd", *WORKLOADS),
    "plate-harbor.json": ("harbor", "prometheus", "kubelet", *WORKLOADS),
    "plate-openbao.json": ("openbao", "prometheus", "kubelet", "cert-manager", *WORKLOADS),
    "plate-fluentd.json": ("fluentd", *WORKLOADS),
    "plate-external-secrets.json": ("external-secrets", *WORKLOADS),
    "plate-traefik.json": ("traefik", *WORKLOADS),
    "plate-external-dns.json": ("external-dns", *WORKLOADS),
}


# --- helpers ---------------------------------------------------------------------------------


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found on PATH: .ci/run installs it (apt-get install prometheus)")
    return found


def _panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The panels that query (row headers do not)."""
    return (p for p in board["panels"] if p["type"] != "row")


def _variables(board: dict[str, Any]) -> set[str]:
    return {v["name"] for v in board["templating"]["list"]}


def _promql(board: dict[str, Any], expr: str) -> str:
    """`expr` as Prometheus sees it once Grafana has put in the variables (All: `.+`)."""
    for name in _variables(board):
        expr = expr.replace(f"${name}", ".+")
    return expr


def _exprs(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    return ((panel, target) for panel in _panels(board) for target in panel["targets"])


def _panel(file_name: str, title: str) -> dict[str, Any]:
    (panel,) = (p for p in _panels(BOARDS[file_name]) if p["title"] == title)
    return panel


_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers left once strings, label
    matchers, ranges and grouping label lists are removed, that are neither keywords nor
    followed by `(` (functions and aggregations)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    return {
        m.group(0)
        for m in _IDENTIFIER.finditer(text)
        if m.group(0) not in _KEYWORDS and not text[m.end():].lstrip().startswith("(")
    }


def _board_metrics(board: dict[str, Any]) -> set[str]:
    return {name for _, target in _exprs(board) for name in metric_names(target["expr"])}


def _alert_metrics() -> set[str]:
    return {
        name
        for group in alerts.platform_rule_groups()
        for rule in group["rules"]
        for name in metric_names(rule["expr"])
    }


# --- PromQL -----------------------------------------------------------------------------------


def _recording_rules() -> tuple[dict[str, Any], dict[str, str]]:
    """Every panel query and variable selector as a recording rule (one group per dashboard), and
    what each rule is: `<file> / panel <id> '<title>' / <refId>`."""
    groups, where = [], {}
    for file_name, board in BOARDS.items():
        prefix = board["uid"].replace("-", "_")
        rules = []
        for panel, target in _exprs(board):
            ref = target["refId"]
            record = f"{prefix}:panel_{panel['id']}:{ref}"
            where[record] = f"{file_name} / panel {panel['id']} {panel['title']!r} / {ref}"
            rules.append({"record": record, "expr": _promql(board, target["expr"])})
        for variable in board["templating"]["list"]:
            selector = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
            assert selector is not None, f"{file_name}: variable {variable['name']}"
            record = f"{prefix}:variable:{variable['name']}"
            where[record] = f"{file_name} / variable {variable['name']!r}"
            rules.append({"record": record, "expr": f"count by ({selector[2]}) ({selector[1]})"})
        groups.append({"name": board["uid"], "rules": rules})
    return {"groups": groups}, where


def test_every_query_passes_promtool_check_rules(tmp_path: Path) -> None:
    rules, where = _recording_rules()
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False, width=1_000_000))
    result = subprocess.run(
        [_promtool(), "check", "rules", str(path)],
        capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT,
    )
    output = result.stdout + result.stderr
    failing = [f"{place}: {record}" for record, place in where.items() if f'"{record}"' in output]
    assert result.returncode == 0, "\n".join(["promtool rejects:", *failing, output])
    assert f"SUCCESS: {len(where)} rules found" in result.stdout
    assert len(where) > 100  # every dashboard's queries, not an empty file


def test_queries_use_no_grafana_macro_but_the_dashboards_variables() -> None:
    for file_name, board in BOARDS.items():
        allowed = _variables(board) | {"1"}  # `$1`: label_replace's capture group
        for panel, target in _exprs(board):
            used = set(re.findall(r"\$(\w+)", target["expr"]))
            assert used <= allowed, f"{file_name} / {panel['title']}: {sorted(used - allowed)}"


def _expr(file_name: str, title: str, ref: str = "A") -> str:
    (target,) = (t for t in _panel(file_name, title)["targets"] if t["refId"] == ref)
    return str(target["expr"])


def _overview_unit_tests() -> dict[str, Any]:
    expiry = _expr(OVERVIEW, "Certificates closest to expiry")
    unsealed = _expr(OVERVIEW, "OpenBao seal state")
    active = _expr(OVERVIEW, "OpenBao active nodes")
    health = _expr(OVERVIEW, "Applications by health")
    tier1 = _expr(OVERVIEW, "Tier 1: cluster services")
    short = _expr(OVERVIEW, "Workloads below their desired replicas")
    cert = "certmanager_certificate_expiration_timestamp_seconds"
    bao = 'job="openbao-internal", namespace="openbao"'
    app = 'argocd_app_info{namespace="argocd", job="argo-cd-application-controller-metrics"'
    return {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "certificates, OpenBao and Applications at 10m (time() = 600)",
                "interval": "1m",
                "input_series": [
                    # renamed by honorLabels false: the object's namespace is exported_namespace
                    {"series": f'{cert}{{namespace="cert-manager", exported_namespace="plate-stg",'
                               f' name="web-tls", issuer_name="letsencrypt-production"}}',
                     "values": "864600x10"},  # 10 days after 600 s
                    {"series": f'{cert}{{namespace="harbor", name="harbor-tls"}}',
                     "values": "3456600x10"},  # 40 days after 600 s
                    {"series": f'{cert}{{namespace="plate-stg", name="never-issued"}}',
                     "values": "0x10"},
                    {"series": f'vault_core_unsealed{{{bao}, pod="openbao-0"}}', "values": "1x10"},
                    {"series": f'vault_core_unsealed{{{bao}, pod="openbao-1"}}', "values": "0x10"},
                    {"series": 'vault_core_unsealed{job="legacy-vault", pod="vault-0"}',
                     "values": "0x10"},  # not OpenBao's scrape job
                    {"series": f'vault_core_active{{{bao}, pod="openbao-0"}}', "values": "1x10"},
                    {"series": f'vault_core_active{{{bao}, pod="openbao-1"}}', "values": "0x10"},
                    {"series": f'{app}, name="plate-web", health_status="Healthy", '
                               'sync_status="Synced", pod="c-0"}', "values": "1x10"},
                    # the same Application from a second controller replica: counted once
                    {"series": f'{app}, name="plate-web", health_status="Healthy", '
                               'sync_status="Synced", pod="c-1"}', "values": "1x10"},
                    {"series": 'argocd_app_info{namespace="argocd", exported_namespace="argocd", '
                               'name="plate-api", health_status="Degraded", sync_status="Synced"}',
                     "values": "1x10"},
                ],
                "promql_expr_test": [
                    {"expr": expiry, "eval_time": "10m", "exp_samples": [
                        {"labels": '{namespace="plate-stg", name="web-tls"}', "value": 864000},
                        {"labels": '{namespace="harbor", name="harbor-tls"}', "value": 3456000},
                    ]},
                    {"expr": unsealed, "eval_time": "10m", "exp_samples": [
                        {"labels": '{pod="openbao-0"}', "value": 1},
                        {"labels": '{pod="openbao-1"}', "value": 0},
                    ]},
                    {"expr": active, "eval_time": "10m", "exp_samples": [
                        {"labels": "{}", "value": 1},
                    ]},
                    {"expr": health, "eval_time": "10m", "exp_samples": [
                        {"labels": '{health_status="Healthy"}', "value": 1},
                        {"labels": '{health_status="Degraded"}', "value": 1},
                    ]},
                ],
            },
            {
                "name": "no OpenBao node active; a speaker short on one node",
                "interval": "1m",
                "input_series": [
                    {"series": f'vault_core_active{{{bao}, pod="openbao-0"}}', "values": "0x10"},
                    {"series": 'kube_deployment_status_replicas_available{namespace="cert-manager",'
                               ' deployment="cert-manager"}', "values": "2x10"},
                    {"series": 'kube_deployment_spec_replicas{namespace="cert-manager",'
                               ' deployment="cert-manager"}', "values": "2x10"},
                    {"series": 'kube_daemonset_status_number_available{namespace="metallb-system",'
                               ' daemonset="metallb-speaker"}', "values": "1x10"},
                    {"series": 'kube_daemonset_status_desired_number_scheduled{'
                               'namespace="metallb-system", daemonset="metallb-speaker"}',
                     "values": "2x10"},
                    # not a platform namespace
                    {"series": 'kube_deployment_status_replicas_available{namespace="other",'
                               ' deployment="x"}', "values": "0x10"},
                    {"series": 'kube_deployment_spec_replicas{namespace="other",'
                               ' deployment="x"}', "values": "1x10"},
                ],
                "promql_expr_test": [
                    {"expr": active, "eval_time": "5m", "exp_samples": [
                        {"labels": "{}", "value": 0},
                    ]},
                    {"expr": tier1, "eval_time": "5m", "exp_samples": [
                        {"labels": '{namespace="cert-manager"}', "value": 1},
                        {"labels": '{namespace="metallb-system"}', "value": 0.5},
                    ]},
                    {"expr": short, "eval_time": "5m", "exp_samples": [
                        {"labels": '{namespace="metallb-system", daemonset="metallb-speaker"}',
                         "value": 1},
                    ]},
                ],
            },
        ],
    }


def test_key_overview_queries_give_the_expected_values(tmp_path: Path) -> None:
    path = tmp_path / "overview.test.yaml"
    path.write_text(yaml.safe_dump(_overview_unit_tests(), sort_keys=False, width=1_000_000))
    result = subprocess.run(
        [_promtool(), "test", "rules", path.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# --- the set of dashboards and their settings ---------------------------------------------------


def test_one_dashboard_per_tool_and_the_overview() -> None:
    assert set(BOARDS) == {
        "plate-overview.json",
        "plate-cert-manager.json",
        "plate-metallb.json",
        "plate-nfs-storage.json",
        "plate-argocd.json",
        "plate-harbor.json",
        "plate-openbao.json",
        "plate-fluentd.json",
        "plate-external-secrets.json",
        "plate-traefik.json",
        "plate-external-dns.json",
    }
    assert set(SOURCES) == set(BOARDS)


def test_without_traefik_there_is_no_traefik_dashboard_or_namespace() -> None:
    boards = dashboards.dashboards(apps_namespace="plate-stg", traefik=False)
    assert set(boards) == set(BOARDS) - {"plate-traefik.json"}
    tier1 = next(p for p in _panels(boards[OVERVIEW]) if p["title"].startswith("Tier 1"))
    assert "traefik" not in tier1["targets"][0]["expr"]
    assert '"cert-manager|metallb-system|nfs-provisioner|traefik"' in _expr(
        OVERVIEW, "Tier 1: cluster services"
    )


def test_uids_titles_and_common_settings() -> None:
    uids = [board["uid"] for board in BOARDS.values()]
    titles = [board["title"] for board in BOARDS.values()]
    assert len(set(uids)) == len(uids)
    assert len(set(titles)) == len(titles)
    for file_name, board in BOARDS.items():
        assert file_name == f"{board['uid']}.json"
        assert board["uid"].startswith("plate-") and len(board["uid"]) <= 40
        assert board["title"].startswith("Plate / ")
        assert board["tags"] == ["plate"]
        # the dashboard schema of the pinned SDK (Grafana 11.6); Grafana migrates it on load
        assert board["schemaVersion"] == 41
        assert board["time"] == {"from": "now-6h", "to": "now"}
        assert board["refresh"] == "1m"
        assert board["editable"] is False
        assert board["description"].strip()


def test_a_uid_longer_than_grafana_takes_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 40 characters"):
        grafana.dashboard("plate-" + "x" * 35, "t", "d")


def test_every_panel_and_query_is_on_the_prometheus_datasource() -> None:
    for file_name, board in BOARDS.items():
        for panel in _panels(board):
            where = f"{file_name} / {panel['title']}"
            assert panel["datasource"] == PROMETHEUS, where
            assert panel["targets"], where
            assert all(t["datasource"] == PROMETHEUS for t in panel["targets"]), where
            assert panel["title"].strip() and panel["description"].strip(), where
        for variable in board["templating"]["list"]:
            assert variable["datasource"] == PROMETHEUS, file_name


def test_panel_ids_are_unique_per_dashboard() -> None:
    for file_name, board in BOARDS.items():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), file_name


def test_panel_types_and_how_they_query() -> None:
    """Panel types Grafana ships; targets A, B, ... in order; every panel but a time series shows
    the latest value, so its queries are instant, and a table takes its query as a table."""
    for file_name, board in BOARDS.items():
        for panel in board["panels"]:
            assert panel["type"] in {"row", "timeseries", "stat", "table", "bargauge"}, file_name
        for panel in _panels(board):
            where = f"{file_name} / {panel['title']}"
            refs = [target["refId"] for target in panel["targets"]]
            assert refs == [chr(ord("A") + i) for i in range(len(refs))], where
            series = panel["type"] == "timeseries"
            for target in panel["targets"]:
                assert target["instant"] is not series and target["range"] is series, where
                assert (target.get("format") == "table") == (panel["type"] == "table"), where


def test_a_section_that_would_overflow_the_grid_is_refused() -> None:
    # the SDK starts a new line only once a line is full: 16 + 16 columns would overflow
    wide = grafana.section(
        "two wide panels",
        grafana.stat_panel().title("a").description("a").span(16),
        grafana.stat_panel().title("b").description("b").span(16),
    )
    with pytest.raises(ValueError, match="16 columns do not fit the 8 left"):
        grafana.dashboard("plate-test", "t", "d", wide)


def test_panels_fit_the_grid_without_overlapping() -> None:
    for file_name, board in BOARDS.items():
        boxes = []
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] >= 1 and pos["h"] >= 1
            assert pos["x"] + pos["w"] <= 24, f"{file_name} / {panel['title']}: {pos}"
            boxes.append((panel["title"], pos))
        for i, (title_a, a) in enumerate(boxes):
            for title_b, b in boxes[i + 1:]:
                apart = (
                    a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                    or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
                )
                assert apart, f"{file_name}: {title_a!r} {a} overlaps {title_b!r} {b}"


def test_every_dashboard_is_json_well_under_a_configmaps_limit() -> None:
    for file_name, board in BOARDS.items():
        text = json.dumps(board, sort_keys=True)
        assert json.loads(text) == board, file_name
        assert len(text.encode()) < 256 * 1024, file_name


def test_the_sidecar_label_is_kube_prometheus_stacks() -> None:
    # kube-prometheus-stack 88.5.3 values: grafana.sidecar.dashboards.label/labelValue
    assert dashboards.SIDECAR_LABEL == {"grafana_dashboard": "1"}


# --- what the dashboards show -------------------------------------------------------------------


def test_the_overview_covers_the_platforms_health() -> None:
    board = BOARDS[OVERVIEW]
    names = _board_metrics(board)
    assert "argocd_app_info" in names  # Applications' health and sync
    assert "certmanager_certificate_expiration_timestamp_seconds" in names
    assert {"vault_core_unsealed", "vault_core_active"} <= names  # seal state, leader
    assert {"kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes"} <= names
    assert "ALERTS" in names
    assert {"kube_deployment_status_replicas_available", "kube_deployment_spec_replicas"} <= names
    exprs = "\n".join(target["expr"] for _, target in _exprs(board))
    assert "count by (health_status)" in exprs and "count by (sync_status)" in exprs
    assert 'ALERTS{alertstate="firing"' in exprs
    for namespace in ("argocd", "plate-stg", "harbor", "monitoring", "logging", "openbao",
                      "external-secrets", "cert-manager", "metallb-system", "nfs-provisioner"):
        assert re.search(rf'namespace=~"[^"]*\b{namespace}\b', exprs), namespace


def test_metric_names_are_the_pinned_versions() -> None:
    for file_name, board in BOARDS.items():
        allowed = set().union(*(VERIFIED[source] for source in SOURCES[file_name]))
        unknown = _board_metrics(board) - allowed
        assert not unknown, f"{file_name}: not verified for its sources: {sorted(unknown)}"


def test_every_metric_the_alerts_use_is_verified_and_on_a_dashboard() -> None:
    """Alerts and dashboards name the same series: each metric an alert fires on is graphed."""
    alerted = _alert_metrics()
    assert alerted - set().union(*VERIFIED.values()) == set()
    on_dashboards = set().union(*(_board_metrics(board) for board in BOARDS.values()))
    assert alerted - on_dashboards == set()


def test_metric_names_finds_selected_series_only() -> None:
    expr = (
        'sum by (namespace) (rate(foo_total{code=~"5.."}[5m])) / on (namespace) group_left ()'
        ' label_replace(bar > 0, "namespace", "$1", "exported_namespace", "(.+)")'
        " or vector(0) - time() < 14 * 86400 and baz offset 1h"
    )
    assert metric_names(expr) == {"foo_total", "bar", "baz"}


def test_object_namespaces_are_handled_like_the_alerts() -> None:
    """cert-manager, Argo CD and External Secrets series carry the object's namespace in
    `exported_namespace` through the program's ServiceMonitors: every per-object query that
    groups by namespace rewrites it first, as components/observability/alerts.py does."""
    rewrite = 'label_replace('
    for file_name, board in BOARDS.items():
        for panel, target in _exprs(board):
            expr = target["expr"]
            objects = {"certmanager_certificate_", "argocd_app_info", "externalsecret_"}
            if any(o in expr for o in objects) and "by (namespace, name" in expr:
                assert rewrite in expr and '"exported_namespace"' in expr, (
                    f"{file_name} / {panel['title']}"
                )


def test_the_stacks_names_reach_the_queries() -> None:
    boards = dashboards.dashboards(
        apps_namespace="plate-prod", argocd_namespace="gitops", storage_class="nfs-fast"
    )
    tiers = "\n".join(
        p["targets"][0]["expr"] for p in _panels(boards[OVERVIEW]) if p["title"].startswith("Tier")
    )
    assert 'namespace=~"plate-prod"' in tiers
    assert "gitops|harbor|monitoring|logging|openbao|external-secrets" in tiers
    argocd = "\n".join(t["expr"] for _, t in _exprs(boards["plate-argocd.json"]))
    assert 'namespace="gitops"' in argocd
    nfs = boards["plate-nfs-storage.json"]
    nfs_exprs = [
        t["expr"] for _, t in _exprs(nfs) if "kube_persistentvolumeclaim_info" in t["expr"]
    ]
    assert nfs_exprs and all('storageclass="nfs-fast"' in e for e in nfs_exprs)
    assert 'storageclass="nfs-fast"' in nfs["templating"]["list"][0]["query"]


def _steps(file_name: str, title: str, board: dict[str, Any] | None = None) -> list[Any]:
    panels = _panels(board) if board is not None else _panels(BOARDS[file_name])
    (panel,) = (p for p in panels if p["title"] == title)
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(step["value"], step["color"]) for step in steps]


def test_colours_turn_red_where_the_alerts_fire() -> None:
    rules = {rule["alert"]: rule["expr"] for group in alerts.platform_rule_groups()
             for rule in group["rules"]}
    full = float(re.findall(r"> ([0-9.]+)$", rules["PersistentVolumeClaimAlmostFull"])[0])
    days = int(re.findall(r"< ([0-9]+) \* 24 \* 3600", rules["CertificateExpiringSoon"])[0])
    assert _steps(OVERVIEW, "Fullest volumes")[-1] == (full, "red")
    assert _steps(OVERVIEW, "Certificates closest to expiry")[:2] == [
        (None, "red"), (days * 86400, "orange"),
    ]
    tuned = dashboards.dashboards(
        apps_namespace="plate-stg",
        thresholds=AlertThresholds(certificate_expiry_days=7, volume_full_percent=90),
    )
    overview = tuned[OVERVIEW]
    assert _steps(OVERVIEW, "Fullest volumes", overview)[-1] == (0.9, "red")
    assert _steps(OVERVIEW, "Certificates closest to expiry", overview)[1] == (7 * 86400, "orange")
    cert_manager = tuned["plate-cert-manager.json"]
    assert any(p["title"] == "Expiring within 7 days" for p in _panels(cert_manager))
