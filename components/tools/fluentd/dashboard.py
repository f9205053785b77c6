"""The Fluentd dashboard (plate-fluentd): records read per pod and per source namespace (the
chart's `fluentd_input_status_num_records_total` counter); records written, errors, retries and
buffer per output, which need fluent-plugin-prometheus' `prometheus_output_monitor` source in
Fluentd's configuration (the chart's default configuration has none); then the workloads of the
logging namespace.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.names import LOGGING_NAMESPACE
from components.observability import grafana
from components.observability.grafana import query, section

RECORDS = "fluentd_input_status_num_records_total"
OUTPUT = "{{plugin_id}} ({{type}})"


def _intake() -> grafana.Section:
    # the tag of a container log names its namespace: kubernetes.var.log.containers.<pod>_<ns>_...
    source_namespace = (
        f'label_replace(rate({RECORDS}[5m]), "source_namespace", "$1", "tag", '
        '"kubernetes[.]var[.]log[.]containers[.][^_]+_([^_]+)_.+")'
    )
    return section(
        "Records read",
        grafana.stat_panel()
        .title("Records per second")
        .description("Log records all Fluentd pods read from the nodes' container logs.")
        .with_target(query(f"sum(rate({RECORDS}[5m]))", "records/s"))
        .unit(units.CountsPerSecond),
        grafana.timeseries_panel()
        .title("Records per node")
        .description(
            """Records read per Fluentd pod (one per node); a node at zero while its pods log
            means that pod is stuck."""
        )
        .with_target(query(f"sum by (hostname) (rate({RECORDS}[5m]))", "{{hostname}}"))
        .unit(units.CountsPerSecond),
        grafana.timeseries_panel()
        .title("Noisiest namespaces")
        .description(
            "Records per second of the ten namespaces that log the most (from the log file tag)."
        )
        .with_target(query(
            f"topk(10, sum by (source_namespace) ({source_namespace}))", "{{source_namespace}}"
        ))
        .unit(units.CountsPerSecond),
    )


def _output() -> grafana.Section:
    return section(
        "Output (needs the prometheus_output_monitor source)",
        grafana.timeseries_panel()
        .title("Records written")
        .description("Records per second each output plugin hands to the log backend.")
        .with_target(query(
            "sum by (plugin_id, type) (rate(fluentd_output_status_emit_records[5m]))", OUTPUT
        ))
        .unit(units.CountsPerSecond),
        grafana.timeseries_panel()
        .title("Output errors and retries")
        .description(
            """Write errors in the preceding hour and retries pending, per output: the backend
            is down, refuses the credentials or rejects the records. Fluentd retries forever,
            buffering on disk meanwhile."""
        )
        .with_target(query(
            "sum by (plugin_id, type) (increase(fluentd_output_status_num_errors[1h]))", OUTPUT
        ))
        .with_target(query(
            "sum by (plugin_id) (fluentd_output_status_retry_count)", "{{plugin_id}} retries"
        )),
        grafana.timeseries_panel()
        .title("Buffered bytes per pod")
        .description(
            """Bytes waiting in each pod's buffer: growing while the backend is unreachable;
            when the buffer is full, reading blocks and logs wait on the nodes."""
        )
        .with_target(query(
            "sum by (pod) (fluentd_output_status_buffer_total_bytes)", "{{pod}}"
        ))
        .unit(units.BytesIEC),
    )


def board() -> Dashboard:
    return grafana.dashboard(
        "plate-fluentd",
        "Fluentd",
        """Fluentd, the log collector on every node: records read, records written, output
        errors, retries and buffers.""",
        _intake(),
        _output(),
        grafana.workloads(LOGGING_NAMESPACE),
    )
