"""The cert-manager dashboard (plate-cert-manager): Certificates by Ready condition, time to
expiry and to renewal per certificate, the ClusterIssuers' Ready state, ACME requests (by status,
mean latency) and the controller's sync errors - a failing renewal shows here weeks before
CertificateExpiringSoon - then the workloads of cert-manager's namespace.

Colours follow the alerts: red under `certificate_expiry_days` (CertificateExpiringSoon), orange
once renewal (due 30 days before expiry) is late.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.config import AlertThresholds
from components.names import CERT_MANAGER_NAMESPACE
from components.observability import grafana
from components.observability.grafana import DAY, NONE_BAD, READY, RENEWAL_DAYS, query, section
from components.observability.promql import object_namespace

EXPIRY = object_namespace("certmanager_certificate_expiration_timestamp_seconds > 0")
"""Each issued certificate's notAfter (never-issued ones, whose timestamp is 0, left out as in
CertificateExpiringSoon), by the object's namespace."""


def _certificates(alerts: AlertThresholds) -> grafana.Section:
    days = alerts.certificate_expiry_days
    renewal = object_namespace("certmanager_certificate_renewal_timestamp_seconds > 0")
    ready = object_namespace("certmanager_certificate_ready_status == 1")
    return section(
        "Certificates",
        grafana.stat_panel()
        .title("Certificates by Ready condition")
        .description(
            """Certificates per Ready condition. False or Unknown for a while fires
            CertificateNotReady: `kubectl describe certificate` and its CertificateRequest,
            Order and Challenge say why."""
        )
        .with_target(query(
            f"count by (condition) (\n  max by (namespace, name, condition) ({ready})\n)",
            "Ready={{condition}}",
        ))
        .overrides(grafana.series_colours(
            ("Ready=True", "green"), ("Ready=False", "red"), ("Ready=Unknown", "orange")
        )),
        grafana.stat_panel()
        .title(f"Expiring within {days} days")
        .description(
            f"""Certificates closer than {days} days to expiry: renewal (due {RENEWAL_DAYS}
            days before expiry) has been failing for a while (CertificateExpiringSoon)."""
        )
        .with_target(query(
            f"count(min by (namespace, name) ({EXPIRY}) - time() < {days} * {DAY}) or vector(0)"
        ))
        .thresholds(grafana.thresholds(NONE_BAD)),
        grafana.stat_panel()
        .title("ClusterIssuers")
        .description(
            """Ready condition of each ClusterIssuer (letsencrypt-production, -staging). Not
            Ready: the ACME account could not be registered - `kubectl describe
            clusterissuer`."""
        )
        .with_target(query(
            'max by (name) (certmanager_clusterissuer_ready_status{condition="True"})', "{{name}}"
        ))
        .mappings(grafana.value_mappings(READY)),
        grafana.table_panel("Expires in")
        .title("Time to expiry")
        .description(
            f"""Every issued certificate by time left until notAfter, soonest first. Orange:
            renewal is late ({RENEWAL_DAYS} days); red: under {days} days."""
        )
        .with_target(query(f"sort(min by (namespace, name, issuer_name) ({EXPIRY}) - time())"))
        .unit(units.DurationSeconds)
        .thresholds(grafana.thresholds(grafana.expiry_steps(alerts))),
        grafana.table_panel("Renews in")
        .title("Time to renewal")
        .description(
            """When cert-manager will renew each certificate; a negative time means renewal is
            due and has not happened yet (look at the CertificateRequests)."""
        )
        .with_target(query(f"sort(min by (namespace, name) ({renewal}) - time())"))
        .unit(units.DurationSeconds)
        .thresholds(grafana.thresholds(((None, "red"), (0, "green")))),
    )


def _controller() -> grafana.Section:
    acme = "certmanager_http_acme_client_request"
    return section(
        "ACME and controller",
        grafana.timeseries_panel()
        .title("ACME requests by status")
        .description(
            """Requests to Let's Encrypt's ACME API per action and HTTP status. 429s are rate
            limits; steady 4xx on `finalize` or `challenge` point at a failing solver."""
        )
        .with_target(query(
            f"sum by (action, status) (rate({acme}_count[5m]))", "{{action}} {{status}}"
        ))
        .unit(units.RequestsPerSecond),
        grafana.timeseries_panel()
        .title("ACME request time (mean)")
        .description("Mean latency of ACME requests per action.")
        .with_target(query(
            f"sum by (action) (rate({acme}_duration_seconds_sum[5m]))\n/\n"
            f"sum by (action) (rate({acme}_duration_seconds_count[5m]))",
            "{{action}}",
        ))
        .unit(units.Seconds),
        grafana.timeseries_panel()
        .title("Controller sync errors")
        .description(
            """Errors per second of each cert-manager controller's sync loop; the controller's
            log names the object."""
        )
        .with_target(query(
            "sum by (controller) (rate(certmanager_controller_sync_error_count[5m]))",
            "{{controller}}",
        ))
        .unit(units.OpsPerSecond),
    )


def board(alerts: AlertThresholds) -> Dashboard:
    return grafana.dashboard(
        "plate-cert-manager",
        "cert-manager",
        """Certificates (Ready, expiry, renewal), ClusterIssuers, ACME traffic to Let's Encrypt
        and the controller's errors.""",
        _certificates(alerts),
        _controller(),
        grafana.workloads(CERT_MANAGER_NAMESPACE),
    )
