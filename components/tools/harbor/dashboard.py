"""The Harbor dashboard (plate-harbor): component health (core's health check) and scrape
targets, core API and registry traffic by status code and latency, registry storage latency,
storage and the largest projects, the job service's queues, then the workloads and volumes of
Harbor's namespace.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.config import AlertThresholds
from components.names import HARBOR_NAMESPACE
from components.observability import grafana
from components.observability.grafana import UP_DOWN, query, section


def _health() -> grafana.Section:
    return section(
        "Health",
        grafana.stat_panel()
        .title("Components (core's health check)")
        .description(
            """harbor_up per component from the exporter, which asks core's health API: when
            core is down the exporter reports nothing (HarborCoreDown covers that)."""
        )
        .with_target(query("max by (component) (harbor_up)", "{{component}}"))
        .mappings(grafana.value_mappings(UP_DOWN))
        .span(12),
        grafana.stat_panel()
        .title("Scrape targets")
        .description(
            """Whether Prometheus scrapes core, registry, job service and exporter (one
            Service each)."""
        )
        .with_target(query(
            f'max by (service) (up{{namespace="{HARBOR_NAMESPACE}"}})', "{{service}}"
        ))
        .mappings(grafana.value_mappings(UP_DOWN))
        .span(12),
    )


def _traffic() -> grafana.Section:
    return section(
        "API and registry",
        grafana.timeseries_panel()
        .title("Core API requests by status code")
        .description(
            "Requests per second to Harbor's API (UI, CLI, robots), by HTTP status code."
        )
        .with_target(query(
            "sum by (code) (rate(harbor_core_http_request_total[5m]))", "{{code}}"
        ))
        .unit(units.RequestsPerSecond),
        grafana.timeseries_panel()
        .title("Core API latency (p99, slowest operations)")
        .description("99th percentile duration of the five slowest API operations.")
        .with_target(query(
            "topk(5, max by (operation) "
            '(harbor_core_http_request_duration_seconds{quantile="0.99"}))',
            "{{operation}}",
        ))
        .unit(units.Seconds),
        grafana.timeseries_panel()
        .title("Registry requests by status code")
        .description(
            """Requests per second to the registry (pushes and pulls), by status code: 401s
            are logins, 5xx are storage or core trouble."""
        )
        .with_target(query(
            "sum by (code) (rate(registry_http_requests_total[5m]))", "{{code}}"
        ))
        .unit(units.RequestsPerSecond),
        grafana.timeseries_panel()
        .title("Registry request time (p95) by handler")
        .description("95th percentile duration per registry handler (blob, manifest, ...).")
        .with_target(query(
            "histogram_quantile(0.95, sum by (le, handler) "
            "(rate(registry_http_request_duration_seconds_bucket[5m])))",
            "{{handler}}",
        ))
        .unit(units.Seconds)
        .span(12),
        grafana.timeseries_panel()
        .title("Registry storage time (p95) by action")
        .description(
            """95th percentile duration of storage operations on the registry's volume: slow
            NFS shows here first."""
        )
        .with_target(query(
            "histogram_quantile(0.95, sum by (le, action) "
            "(rate(registry_storage_action_seconds_bucket[5m])))",
            "{{action}}",
        ))
        .unit(units.Seconds)
        .span(12),
    )


def _storage() -> grafana.Section:
    return section(
        "Projects and storage",
        grafana.stat_panel()
        .title("Registry storage used")
        .description("Total storage the registry uses, as Harbor accounts it.")
        .with_target(query("max(harbor_statistics_total_storage_consumption)", "used"))
        .unit(units.BytesIEC),
        grafana.stat_panel()
        .title("Projects and repositories")
        .description("How many projects and repositories Harbor holds.")
        .with_target(query("max(harbor_statistics_total_project_amount)", "projects"))
        .with_target(query("max(harbor_statistics_total_repo_amount)", "repositories")),
        grafana.bargauge_panel()
        .title("Largest projects")
        .description(
            """Quota usage of the ten largest projects; garbage collection reclaims deleted
            images' layers."""
        )
        .with_target(query(
            "topk(10, max by (project_name) (harbor_project_quota_usage_byte))",
            "{{project_name}}",
        ))
        .unit(units.BytesIEC)
        .span(8),
    )


def _jobs() -> grafana.Section:
    return section(
        "Job service",
        grafana.timeseries_panel()
        .title("Queued tasks by type")
        .description("Tasks waiting in the job service's queues (replication, scans, GC, ...).")
        .with_target(query("max by (type) (harbor_task_queue_size)", "{{type}}")),
        grafana.timeseries_panel()
        .title("Queue latency by type")
        .description(
            """How long the oldest queued task of each type has waited: growing means the
            workers are stuck or too few."""
        )
        .with_target(query("max by (type) (harbor_task_queue_latency)", "{{type}}"))
        .unit(units.Seconds),
        grafana.timeseries_panel()
        .title("Tasks processed by status")
        .description("Tasks the job service finished per second, by final status.")
        .with_target(query(
            "sum by (status) (rate(harbor_jobservice_task_total[5m]))", "{{status}}"
        ))
        .unit(units.OpsPerSecond),
    )


def board(alerts: AlertThresholds) -> Dashboard:
    return grafana.dashboard(
        "plate-harbor",
        "Harbor",
        """Harbor: component health, API and registry traffic, storage, the job service's queue
        and Harbor's volumes.""",
        _health(),
        _traffic(),
        _storage(),
        _jobs(),
        grafana.workloads(HARBOR_NAMESPACE, volumes=alerts),
    )
