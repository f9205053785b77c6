"""The External Secrets dashboard (plate-external-secrets): ExternalSecrets by Ready status and
the ones not Ready, the ClusterSecretStores' Ready state, sync calls and errors, calls to OpenBao
by result, the slowest reconciles; then the workloads of the operator's namespace.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.names import EXTERNAL_SECRETS_NAMESPACE
from components.observability import grafana
from components.observability.grafana import READY, query, section
from components.observability.promql import object_namespace


def _status() -> grafana.Section:
    condition = "externalsecret_status_condition"
    ready = object_namespace(f'{condition}{{condition="Ready"}} == 1')
    not_ready = object_namespace(f'{condition}{{condition="Ready", status="False"}}')
    return section(
        "ExternalSecrets and stores",
        grafana.stat_panel()
        .title("ExternalSecrets by Ready status")
        .description(
            """ExternalSecrets per Ready status; False for a while fires
            ExternalSecretNotReady."""
        )
        .with_target(query(
            f"count by (status) (\n  max by (namespace, name, status) ({ready})\n)",
            "Ready={{status}}",
        ))
        .overrides(grafana.series_colours(("Ready=True", "green"), ("Ready=False", "red"))),
        grafana.stat_panel()
        .title("ClusterSecretStores")
        .description(
            """Ready condition of each ClusterSecretStore (openbao-<env>): not Ready means
            OpenBao is unreachable or rejects the store's Kubernetes login."""
        )
        .with_target(query(
            'max by (name) (clustersecretstore_status_condition{condition="Ready", '
            'status="True"})',
            "{{name}}",
        ))
        .mappings(grafana.value_mappings(READY)),
        grafana.table_panel()
        .title("ExternalSecrets not Ready")
        .description(
            """Each ExternalSecret whose last sync failed: `kubectl describe externalsecret`
            gives the reason (usually a key missing in OpenBao)."""
        )
        .with_target(query(f"max by (namespace, name) ({not_ready}) == 1"))
        .span(8),
    )


def _syncs() -> grafana.Section:
    duration = object_namespace("externalsecret_reconcile_duration")
    return section(
        "Syncs",
        grafana.timeseries_panel()
        .title("Sync calls and errors")
        .description("Reconciles of ExternalSecrets per second, and those that failed.")
        .with_target(query("sum(rate(externalsecret_sync_calls_total[5m]))", "calls"))
        .with_target(query("sum(rate(externalsecret_sync_calls_error[5m]))", "errors"))
        .unit(units.OpsPerSecond),
        grafana.timeseries_panel()
        .title("Calls to the provider by result")
        .description("Calls to OpenBao (the Vault provider) per call type and result.")
        .with_target(query(
            "sum by (provider, call, status) "
            "(rate(externalsecret_provider_api_calls_count[5m]))",
            "{{provider}} {{call}} {{status}}",
        ))
        .unit(units.OpsPerSecond),
        grafana.timeseries_panel()
        .title("Slowest reconciles")
        .description("Duration of the last reconcile of the five slowest ExternalSecrets.")
        .with_target(query(
            f"topk(5, max by (namespace, name) ({duration}))", "{{namespace}}/{{name}}"
        ))
        .unit(units.Nanoseconds),
    )


def board() -> Dashboard:
    return grafana.dashboard(
        "plate-external-secrets",
        "External Secrets",
        "External Secrets Operator: ExternalSecrets and stores, syncs, calls to OpenBao.",
        _status(),
        _syncs(),
        grafana.workloads(EXTERNAL_SECRETS_NAMESPACE),
    )
