"""The OpenBao dashboard (plate-openbao): seal state, active node and scrape status per pod, raft
autopilot health and failure tolerance, request rate and latency, leases, audit device failures
(OpenBao refuses a request it cannot audit) and leadership losses, then the workloads and volumes
of OpenBao's namespace.

`unsealed_by_pod`, `active_nodes` and `SEAL_STATE` are the overview's too.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.config import AlertThresholds
from components.names import OPENBAO_NAMESPACE
from components.observability import grafana
from components.observability.grafana import UP_DOWN, Mapping, query, section
from components.tools.openbao import JOB as OPENBAO_JOB
from components.tools.openbao.alerts import current_certificate_issued, started_pods

SEAL_STATE: tuple[Mapping, ...] = ((1, "Unsealed", "green"), (0, "Sealed", "red"))


def unsealed_by_pod() -> str:
    return f"min by (pod) (vault_core_unsealed{{{OPENBAO_JOB}}})"


def active_nodes() -> str:
    """Scraped pods reporting themselves the active node (0, not nothing, when none does)."""
    return f"count(vault_core_active{{{OPENBAO_JOB}}} == 1) or vector(0)"


def _state() -> grafana.Section:
    job = OPENBAO_JOB
    return section(
        "Seal and leadership",
        grafana.stat_panel()
        .title("Seal state")
        .description(
            """vault_core_unsealed per pod: a sealed pod serves nothing and does not vote in
            raft (OpenBaoSealed)."""
        )
        .with_target(query(unsealed_by_pod(), "{{pod}}"))
        .mappings(grafana.value_mappings(SEAL_STATE)),
        grafana.stat_panel()
        .title("Active node")
        .description("Which pod is the active (leader) node; the others are standbys.")
        .with_target(query(f"max by (pod) (vault_core_active{{{job}}})", "{{pod}}"))
        .mappings(grafana.value_mappings(((1, "Active", "green"), (0, "Standby", "blue")))),
        grafana.stat_panel()
        .title("Scrape targets")
        .description(
            "Whether Prometheus scrapes each pod's /v1/sys/metrics (OpenBaoTargetDown)."
        )
        .with_target(query(f"max by (pod) (up{{{job}}})", "{{pod}}"))
        .mappings(grafana.value_mappings(UP_DOWN)),
        grafana.stat_panel()
        .title("Raft autopilot")
        .description(
            """Autopilot's view from the active node: healthy when every voter is alive and
            caught up; failure tolerance = voters that may fail without losing quorum (0 with
            a single replica, as on stg)."""
        )
        .with_target(query(f"max(vault_autopilot_healthy{{{job}}})", "healthy"))
        .with_target(query(
            f"max(vault_autopilot_failure_tolerance{{{job}}})", "failure tolerance"
        ))
        .thresholds(grafana.thresholds(((None, "orange"), (1, "green"))))
        .span(24),
        grafana.stat_panel()
        .title("Listener certificate")
        .description(
            """When each server pod started, and when cert-manager issued the listener's current
            certificate: a pod that started earlier serves the old one until it restarts
            (OpenBaoServesAnOldCertificate)."""
        )
        .with_target(query(started_pods(), "{{pod}} started"))
        .with_target(query(current_certificate_issued(), "certificate issued"))
        .unit(units.DatetimeISO)
        .span(24),
    )


def _requests() -> grafana.Section:
    job = OPENBAO_JOB
    return section(
        "Requests, leases and audit",
        grafana.timeseries_panel()
        .title("Requests per second")
        .description(
            "Requests and logins OpenBao handled (External Secrets, the Harbor bootstrap, people)."
        )
        .with_target(query(
            f"sum(rate(vault_core_handle_request_count{{{job}}}[5m]))", "requests"
        ))
        .with_target(query(
            f"sum(rate(vault_core_handle_login_request_count{{{job}}}[5m]))", "logins"
        ))
        .unit(units.RequestsPerSecond),
        grafana.timeseries_panel()
        .title("Request time (p99)")
        .description(
            "99th percentile request duration per pod (OpenBao measures in milliseconds)."
        )
        .with_target(query(
            f'max by (pod) (vault_core_handle_request{{{job}, quantile="0.99"}})', "{{pod}}"
        ))
        .unit(units.Milliseconds),
        grafana.timeseries_panel()
        .title("In-flight requests")
        .description("Requests being processed per pod.")
        .with_target(query(
            f"sum by (pod) (vault_core_in_flight_requests{{{job}}})", "{{pod}}"
        )),
        grafana.timeseries_panel()
        .title("Leases")
        .description(
            "Leases OpenBao tracks (tokens of Kubernetes logins mostly), from the active node."
        )
        .with_target(query(f"max(vault_expire_num_leases{{{job}}})", "leases")),
        grafana.timeseries_panel()
        .title("Audit log failures (per hour)")
        .description(
            """Requests and responses the audit device failed to log. OpenBao refuses a
            request it cannot audit, so any failure is an outage for someone."""
        )
        .with_target(query(
            f"sum(increase(vault_audit_log_request_failure{{{job}}}[1h]))", "requests"
        ))
        .with_target(query(
            f"sum(increase(vault_audit_log_response_failure{{{job}}}[1h]))", "responses"
        )),
        grafana.timeseries_panel()
        .title("Leadership losses (per hour)")
        .description(
            "Times an active node lost leadership: raft elections, restarts, network trouble."
        )
        .with_target(query(
            f"sum(increase(vault_core_leadership_lost_count{{{job}}}[1h]))", "losses"
        )),
    )


def board(alerts: AlertThresholds) -> Dashboard:
    return grafana.dashboard(
        "plate-openbao",
        "OpenBao",
        """OpenBao: seal state and leadership per pod, raft health, requests, leases, audit
        failures and OpenBao's volumes.""",
        _state(),
        _requests(),
        grafana.workloads(OPENBAO_NAMESPACE, volumes=alerts),
    )
