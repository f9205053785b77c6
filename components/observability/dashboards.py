"""Grafana dashboards of the platform, as code: one per tool and one overview.

kube-prometheus-stack's Grafana sidecar loads every ConfigMap labelled `SIDECAR_LABEL`, from all
namespaces; the program makes one ConfigMap per dashboard from `dashboards(...)` (key = file name,
value = the JSON). This module imports no upstream dashboard: nothing is fetched from grafana.com
at run time, every panel is written here against the metric names of the versions
components/versions.py pins, and a dashboard changes only with this repository's revision.

The queries follow components/observability/alerts.py: the same metric names and scrape selectors,
the same `exported_namespace` handling, and the stack's alert thresholds (`AlertThresholds`) colour
the panels, so what pages someone is what turns red here. Every expression is plain PromQL with
fixed rate windows (no Grafana macros): tests/test_dashboards.py hands each one to `promtool check
rules` as it stands and unit-tests the key overview queries with `promtool test rules`.

The dashboards (uid = file name without `.json`; title "Plate / <tool>"; tag `plate`; every
dashboard links to the others):

- **plate-overview**: is the platform well? Ready replicas per namespace of each tier (cluster
  services, developer tools, the apps namespace) and the workloads short of replicas; Argo CD
  Applications by health and sync status; OpenBao's seal state per pod and its active nodes; the
  certificates closest to expiry; the fullest volumes; the firing alerts (without Watchdog and
  InfoInhibitor, which fire by design) and failed Jobs (the program's gates and bootstrap).
- **plate-cert-manager**: Certificates by Ready condition, time to expiry and to renewal per
  certificate, the ClusterIssuers' Ready state, ACME requests (by status, mean latency) and the
  controller's sync errors: a failing renewal shows here weeks before CertificateExpiringSoon.
- **plate-metallb**: LoadBalancer Services with and without an address (kube-state-metrics);
  pool use, configuration loaded/stale per pod, announcements and ARP/NDP requests from MetalLB's
  own metrics (the HTTPS target components/observability/monitors.py adds); the controller and
  speakers.
- **plate-nfs-storage**: every claim of the platform's NFS StorageClass (kubelet volume stats
  joined with kube-state-metrics' claim info): use, bytes, the forecast
  PersistentVolumeClaimFillingUp uses, claims not Bound, requested sizes; csi-driver-nfs's
  provisioner and node plugin (the driver exports no metrics: kube-state-metrics only). NFS
  volumes report their whole export, so claims on one export move together.
- **plate-argocd**: Applications by health and sync and one row per Application, the cluster
  connection, syncs per hour by phase, reconciliation time, and the repo server's Git requests,
  latency and fetch failures.
- **plate-harbor**: component health (core's health check) and scrape targets, core API and
  registry traffic by status code and latency, registry storage latency, storage and the largest
  projects, the job service's queues, and Harbor's volumes.
- **plate-openbao**: seal state, active node and scrape status per pod, raft autopilot health
  and failure tolerance, request rate and latency, leases, audit device failures (OpenBao refuses
  a request it cannot audit) and leadership losses, and OpenBao's volumes.
- **plate-fluentd**: records read per pod and per source namespace (the chart's
  `fluentd_input_status_num_records_total` counter); records written, errors, retries and buffer
  per output, which need fluent-plugin-prometheus' `prometheus_output_monitor` source in
  Fluentd's configuration (the chart's default configuration has none).
- **plate-external-secrets**: ExternalSecrets by Ready status and the ones not Ready, the
  ClusterSecretStores' Ready state, sync calls and errors, calls to OpenBao by result, the
  slowest reconciles.
- **plate-traefik** (only when the stack runs Traefik): requests, 5xx ratio, latency and open
  connections per entry point; the busiest, failing and slowest services; configuration reloads
  and the expiry of the certificates Traefik serves.

Each tool dashboard ends with the workloads of the tool's namespace (ready replicas, container
restarts, and volume use where the tool keeps state). Only the NFS dashboard has a template
variable (`namespace`): it is the only one listing objects of many namespaces.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

from components.config import AlertThresholds
from components.names import (
    CERT_MANAGER_NAMESPACE,
    EXTERNAL_SECRETS_NAMESPACE,
    HARBOR_NAMESPACE,
    LOGGING_NAMESPACE,
    METALLB_NAMESPACE,
    MONITORING_NAMESPACE,
    NFS_NAMESPACE,
    OPENBAO_NAMESPACE,
    TRAEFIK_NAMESPACE,
)
from components.observability.alerts import PVC_PREDICT_WINDOW
from components.tools.csi_driver_nfs import CONTROLLER as NFS_CONTROLLER
from components.tools.csi_driver_nfs import NODE as NFS_NODE
from components.tools.metallb import METRICS_JOB as METALLB_JOB
from components.tools.openbao import JOB as OPENBAO_JOB
from components.observability.promql import (
    object_namespace,
    ready_ratio_by_namespace,
    volume_used_ratio,
    workload_series,
    workloads_below_desired,
)

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
"""kube-prometheus-stack's Grafana datasource (`grafana.sidecar.datasources.uid`)."""
SIDECAR_LABEL = {"grafana_dashboard": "1"}
"""The label kube-prometheus-stack's Grafana sidecar selects dashboard ConfigMaps by."""
TAG = "plate"
SCHEMA_VERSION = 39
GRID_WIDTH = 24
PANEL_HEIGHT = 8
MAX_UID_LENGTH = 40  # Grafana refuses longer uids

DAY = 24 * 3600
RENEWAL_DAYS = 30
"""cert-manager renews Let's Encrypt's 90-day certificates 30 days before expiry: a certificate
closer than this is late (orange); under `certificate_expiry_days` the alert fires (red)."""
VOLUME_WARN_RATIO = 0.7
"""Volume use from which bars turn orange (red from the alert's `volume_full_percent`)."""
IGNORED_ALERTS = "Watchdog|InfoInhibitor"
"""kube-prometheus-stack alerts that fire all the time by design."""

Kind = Literal["timeseries", "stat", "table", "bargauge"]
Step = tuple[float | None, str]
"""A threshold step: from this value on (None: the base), this colour."""
Mapping = tuple[int, str, str]
"""A value mapping: value, text, colour."""

GREEN: tuple[Step, ...] = ((None, "green"),)
ALL_READY: tuple[Step, ...] = ((None, "red"), (1, "green"))
"""A ratio of ready to desired (or a count of good things): below 1 is red."""
NONE_BAD: tuple[Step, ...] = ((None, "green"), (1, "red"))
"""A count of bad things: any is red."""
UP_DOWN: tuple[Mapping, ...] = ((1, "Up", "green"), (0, "Down", "red"))
READY: tuple[Mapping, ...] = ((1, "Ready", "green"), (0, "Not ready", "red"))


# --- the builder ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""  # Grafana's legendFormat ({{label}}); empty: Grafana's automatic legend


@dataclass(frozen=True)
class Panel:
    kind: Kind
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 8
    steps: tuple[Step, ...] = GREEN
    mappings: tuple[Mapping, ...] = ()
    colours: tuple[tuple[str, str], ...] = ()  # (series name, fixed colour)
    value_name: str = ""  # tables: the value column's header; empty hides the column
    descending: bool = False  # tables: sort by the value column, largest first
    no_value: str | None = None  # shown when the query returns nothing (e.g. "0")
    maximum: float | None = None

    def json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        instant = self.kind != "timeseries"
        defaults: dict[str, Any] = {
            "unit": self.unit,
            "color": {"mode": "palette-classic" if self.kind == "timeseries" else "thresholds"},
            "thresholds": {
                "mode": "absolute",
                "steps": [{"value": value, "color": colour} for value, colour in self.steps],
            },
            "mappings": [_value_mapping(self.mappings)] if self.mappings else [],
        }
        if self.no_value is not None:
            defaults["noValue"] = self.no_value
        if self.maximum is not None:
            defaults.update(min=0, max=self.maximum)
        panel: dict[str, Any] = {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": " ".join(self.description.split()),
            "datasource": dict(DATASOURCE),
            "gridPos": {"h": PANEL_HEIGHT, "w": self.width, "x": x, "y": y},
            "targets": [
                _target(query, chr(ord("A") + i), instant, self.kind == "table")
                for i, query in enumerate(self.queries)
            ],
            "fieldConfig": {"defaults": defaults, "overrides": self._overrides()},
            "options": copy.deepcopy(_OPTIONS[self.kind]),
        }
        if self.kind == "table":
            panel["transformations"] = [self._organize()]
            if self.value_name:
                sort = {"displayName": self.value_name, "desc": self.descending}
                panel["options"] = {**_OPTIONS["table"], "sortBy": [sort]}
        return panel

    def _overrides(self) -> list[dict[str, Any]]:
        fixed = [
            _by_name(name, {"id": "color", "value": {"mode": "fixed", "fixedColor": colour}})
            for name, colour in self.colours
        ]
        if self.kind == "table" and self.value_name:
            cells = {"id": "custom.cellOptions", "value": {"type": "color-text"}}
            fixed.append(_by_name(self.value_name, cells))
        return fixed

    def _organize(self) -> dict[str, Any]:
        hidden = {"Time": True, **({} if self.value_name else {"Value": True})}
        renamed = {"Value": self.value_name} if self.value_name else {}
        return {"id": "organize", "options": {"excludeByName": hidden, "renameByName": renamed}}


def _target(query: Query, ref: str, instant: bool, table: bool) -> dict[str, Any]:
    target: dict[str, Any] = {
        "refId": ref,
        "datasource": dict(DATASOURCE),
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "instant": instant,
        "range": not instant,
    }
    if table:
        target["format"] = "table"
    return target


def _value_mapping(mappings: tuple[Mapping, ...]) -> dict[str, Any]:
    return {
        "type": "value",
        "options": {
            str(value): {"text": text, "color": colour, "index": i}
            for i, (value, text, colour) in enumerate(mappings)
        },
    }


def _by_name(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": name}, "properties": [prop]}


_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}
_OPTIONS: dict[Kind, dict[str, Any]] = {
    "timeseries": {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    },
    "stat": {
        "reduceOptions": _LAST,
        "colorMode": "background",
        "graphMode": "none",
        "textMode": "auto",  # series names only when there are several
        "justifyMode": "auto",
        "orientation": "auto",
    },
    "table": {"showHeader": True, "cellHeight": "sm"},
    "bargauge": {
        "reduceOptions": _LAST,
        "displayMode": "gradient",
        "orientation": "horizontal",
        "showUnfilled": True,
        "valueMode": "color",
    },
}


def timeseries(
    title: str, description: str, *queries: Query, unit: str = "short", width: int = 8
) -> Panel:
    return Panel("timeseries", title, description, queries, unit=unit, width=width)


def stat(
    title: str,
    description: str,
    *queries: Query,
    unit: str = "none",
    width: int = 8,
    steps: tuple[Step, ...] = GREEN,
    mappings: tuple[Mapping, ...] = (),
    colours: tuple[tuple[str, str], ...] = (),
    no_value: str | None = None,
) -> Panel:
    return Panel(
        "stat", title, description, queries, unit=unit, width=width, steps=steps,
        mappings=mappings, colours=colours, no_value=no_value,
    )


def table(
    title: str,
    description: str,
    query: Query,
    value_name: str = "",
    *,
    unit: str = "short",
    width: int = 12,
    steps: tuple[Step, ...] = GREEN,
    descending: bool = False,
) -> Panel:
    """One instant query as rows: its labels as columns, its value as `value_name` (hidden when
    empty: an info-style series whose value is always 1), sorted by the value."""
    return Panel(
        "table", title, description, (query,), unit=unit, width=width, steps=steps,
        value_name=value_name, descending=descending,
    )


def bargauge(
    title: str,
    description: str,
    *queries: Query,
    unit: str = "percentunit",
    width: int = 12,
    steps: tuple[Step, ...] = ALL_READY,
    maximum: float | None = 1,
) -> Panel:
    return Panel(
        "bargauge", title, description, queries, unit=unit, width=width, steps=steps,
        maximum=maximum,
    )


@dataclass(frozen=True)
class Section:
    """A titled row of panels; panels flow left to right and wrap at the grid's 24 columns."""

    title: str
    panels: tuple[Panel, ...]


def section(title: str, *panels: Panel) -> Section:
    return Section(title, panels)


@dataclass(frozen=True)
class Variable:
    """A query variable over the values of `label` in the series `selector` selects; panels use
    it as `label=~"$name"`."""

    name: str
    label: str
    selector: str

    def json(self) -> dict[str, Any]:
        query = f"label_values({self.selector}, {self.label})"
        return {
            "name": self.name,
            "label": self.label,
            "type": "query",
            "datasource": dict(DATASOURCE),
            "definition": query,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,  # on time range change: new claims appear without a reload
            "includeAll": True,
            "allValue": ".+",
            "multi": True,
            "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        }


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str  # without the "Plate / " prefix
    description: str
    sections: tuple[Section, ...]
    variables: tuple[Variable, ...] = ()

    def __post_init__(self) -> None:
        if not self.uid.startswith("plate-") or len(self.uid) > MAX_UID_LENGTH:
            raise ValueError(
                f"dashboard uid {self.uid!r}: must start with 'plate-' and have at most "
                f"{MAX_UID_LENGTH} characters (Grafana's limit)"
            )
        for s in self.sections:
            for p in s.panels:
                if not 1 <= p.width <= GRID_WIDTH:
                    raise ValueError(f"{self.uid}/{p.title}: width {p.width} not in 1..24")

    @property
    def file_name(self) -> str:
        return f"{self.uid}.json"

    def json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": f"Plate / {self.title}",
            "description": " ".join(self.description.split()),
            "tags": [TAG],
            "schemaVersion": SCHEMA_VERSION,
            "time": {"from": "now-6h", "to": "now"},
            "refresh": "1m",
            "editable": False,
            "graphTooltip": 1,  # shared crosshair
            "timezone": "browser",
            "links": [
                {
                    "type": "dashboards", "tags": [TAG], "asDropdown": True,
                    "title": "Plate dashboards", "keepTime": True, "includeVars": False,
                }
            ],
            "annotations": {"list": []},
            "templating": {"list": [v.json() for v in self.variables]},
            "panels": _layout(self.sections),
        }


def _layout(sections: tuple[Section, ...]) -> list[dict[str, Any]]:
    """Each section: a row header (1 high), then its panels left to right, PANEL_HEIGHT high,
    wrapping to a new line when the next one does not fit the 24 columns."""
    panels: list[dict[str, Any]] = []
    y = 0
    for s in sections:
        panels.append(
            {
                "id": len(panels) + 1, "type": "row", "title": s.title, "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}, "panels": [],
            }
        )
        y += 1
        x = 0
        for p in s.panels:
            if x + p.width > GRID_WIDTH:
                x, y = 0, y + PANEL_HEIGHT
            panels.append(p.json(len(panels) + 1, x, y))
            x += p.width
        y += PANEL_HEIGHT
    return panels


# --- shared PromQL ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """What differs between stacks, as `dashboards(...)` received it."""

    argocd_namespace: str
    apps_namespace: str
    storage_class: str
    traefik: bool
    thresholds: AlertThresholds

    @property
    def tiers(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        cluster = (CERT_MANAGER_NAMESPACE, METALLB_NAMESPACE, NFS_NAMESPACE)
        tools = (
            self.argocd_namespace, HARBOR_NAMESPACE, MONITORING_NAMESPACE, LOGGING_NAMESPACE,
            OPENBAO_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE,
        )
        return (
            ("Tier 1: cluster services", cluster + ((TRAEFIK_NAMESPACE,) if self.traefik else ())),
            ("Tier 2: developer tools", tools),
            ("Tier 3: applications", (self.apps_namespace,)),
        )

    @property
    def full(self) -> float:
        """PersistentVolumeClaimAlmostFull's threshold, as a fraction."""
        return self.thresholds.volume_full_percent / 100

    @property
    def expiry_days(self) -> int:
        """CertificateExpiringSoon's threshold."""
        return self.thresholds.certificate_expiry_days

    @property
    def volume_steps(self) -> tuple[Step, ...]:
        return ((None, "green"), (VOLUME_WARN_RATIO, "orange"), (self.full, "red"))

    @property
    def expiry_steps(self) -> tuple[Step, ...]:
        return ((None, "red"), (self.expiry_days * DAY, "orange"), (RENEWAL_DAYS * DAY, "green"))


def _workloads(namespace: str, volumes: _Scope | None = None) -> Section:
    """Ready replicas and container restarts of `namespace`; with `volumes` (for its
    thresholds), the use of its PersistentVolumeClaims too."""
    sel = f'namespace="{namespace}"'
    ready = bargauge(
        "Ready replicas",
        f"""Ready (StatefulSet) or available (Deployment, DaemonSet) replicas over desired, per
        workload in {namespace}, from kube-state-metrics. Below 100%: a pod is crash-looping,
        unschedulable or failing its readiness probe - `kubectl -n {namespace} get pods`.""",
        *(Query(f"{r} / {d}", "{{" + kind + "}}") for kind, r, d in workload_series(sel)),
        width=12 if volumes is None else 8,
    )
    restarts = timeseries(
        "Container restarts (last hour)",
        f"""Restarts per container in {namespace} over the preceding hour (only containers that
        restarted). A steady climb is a crash loop: its previous log (`kubectl logs
        --previous`) says why.""",
        Query(
            "sum by (pod, container) (\n"
            f"  increase(kube_pod_container_status_restarts_total{{{sel}}}[1h])\n) > 0",
            "{{pod}}/{{container}}",
        ),
        width=12 if volumes is None else 8,
    )
    if volumes is None:
        return section(f"Workloads in {namespace}", ready, restarts)
    used = bargauge(
        "Volume use",
        f"""Used fraction of each PersistentVolumeClaim in {namespace} (kubelet volume stats).
        Orange from {VOLUME_WARN_RATIO:.0%}, red from {volumes.full:.0%}, where
        PersistentVolumeClaimAlmostFull fires. NFS volumes report their whole export.""",
        Query(volume_used_ratio(sel), "{{persistentvolumeclaim}}"),
        steps=volumes.volume_steps, width=8,
    )
    return section(f"Workloads and volumes in {namespace}", ready, restarts, used)


# --- the overview -------------------------------------------------------------------------------


APP_HEALTH_COLOURS = (
    ("Healthy", "green"), ("Progressing", "blue"), ("Degraded", "red"), ("Missing", "orange"),
    ("Suspended", "purple"), ("Unknown", "text"),
)
APP_SYNC_COLOURS = (("Synced", "green"), ("OutOfSync", "orange"), ("Unknown", "text"))


def applications_by(label: str) -> str:
    """How many Argo CD Applications have each value of `label` (health_status, sync_status)."""
    apps = object_namespace("argocd_app_info")
    return f"count by ({label}) (\n  max by (namespace, name, {label}) ({apps})\n)"


def certificates_closest_to_expiry(limit: int = 10) -> str:
    """Seconds until notAfter of the `limit` certificates expiring first (never-issued ones, whose
    timestamp is 0, left out as in CertificateExpiringSoon)."""
    expiry = object_namespace("certmanager_certificate_expiration_timestamp_seconds > 0")
    return f"sort(bottomk({limit}, min by (namespace, name) ({expiry}) - time()))"


def openbao_unsealed_by_pod() -> str:
    return f"min by (pod) (vault_core_unsealed{{{OPENBAO_JOB}}})"


def openbao_active_nodes() -> str:
    return f"count(vault_core_active{{{OPENBAO_JOB}}} == 1) or vector(0)"


def _overview_health(scope: _Scope) -> Section:
    tiers = tuple(
        bargauge(
            title,
            f"""Ready replicas over desired, per namespace ({", ".join(namespaces)}): all
            Deployments, StatefulSets and DaemonSets together, from kube-state-metrics. Below
            100% means a workload is short of pods: see the table below and the tool's own
            dashboard.""",
            Query(ready_ratio_by_namespace(namespaces), "{{namespace}}"),
            width=8,
        )
        for title, namespaces in scope.tiers
    )
    every_namespace = tuple(ns for _, namespaces in scope.tiers for ns in namespaces)
    below = table(
        "Workloads below their desired replicas",
        """Each workload of the platform's namespaces that has fewer ready replicas than it
        wants, with how many are missing. Empty is good.""",
        Query(workloads_below_desired(every_namespace)),
        "Missing replicas",
        width=24, steps=NONE_BAD, descending=True,
    )
    return section("Workloads by tier", *tiers, below)


def _overview_services() -> Section:
    return section(
        "GitOps and secrets",
        stat(
            "Applications by health",
            """Argo CD Applications per health status (argocd_app_info). Degraded ones fire
            ArgoCDApplicationDegraded once it lasts; the Argo CD dashboard lists them.""",
            Query(applications_by("health_status"), "{{health_status}}"),
            width=6, colours=APP_HEALTH_COLOURS,
        ),
        stat(
            "Applications by sync status",
            """Argo CD Applications per sync status: OutOfSync means the cluster differs from
            Git (ArgoCDApplicationOutOfSync once it lasts).""",
            Query(applications_by("sync_status"), "{{sync_status}}"),
            width=6, colours=APP_SYNC_COLOURS,
        ),
        stat(
            "OpenBao seal state",
            """vault_core_unsealed per scraped OpenBao pod. A sealed pod serves nothing; with
            the static seal it unseals itself from its key Secret (OpenBaoSealed).""",
            Query(openbao_unsealed_by_pod(), "{{pod}}"),
            width=6, mappings=((1, "Unsealed", "green"), (0, "Sealed", "red")),
        ),
        stat(
            "OpenBao active nodes",
            """Scraped OpenBao pods reporting themselves the active (leader) node: exactly 1
            is healthy. 0 means no reads or writes: External Secrets stop refreshing
            (OpenBaoNoActiveNode).""",
            Query(openbao_active_nodes(), "active"),
            width=6, steps=((None, "red"), (1, "green"), (2, "red")),
        ),
    )


def _overview_certificates_and_storage(scope: _Scope) -> Section:
    return section(
        "Certificates and storage",
        table(
            "Certificates closest to expiry",
            f"""The ten certificates cert-manager manages that expire first. cert-manager
            renews {RENEWAL_DAYS} days before expiry: orange means renewal is late, red (under
            {scope.expiry_days} days) is CertificateExpiringSoon.""",
            Query(certificates_closest_to_expiry()),
            "Expires in",
            unit="dtdurations", steps=scope.expiry_steps,
        ),
        bargauge(
            "Fullest volumes",
            f"""The ten fullest PersistentVolumeClaims of the cluster. Red from
            {scope.full:.0%} (PersistentVolumeClaimAlmostFull); NFS claims report their whole
            export, so claims on one export show the same figure.""",
            Query(f"topk(10, {volume_used_ratio()})", "{{namespace}}/{{persistentvolumeclaim}}"),
            steps=scope.volume_steps,
        ),
    )


def firing_alerts() -> str:
    return (
        "sort_desc(count by (alertname, severity, namespace) (\n"
        f'  ALERTS{{alertstate="firing", alertname!~"{IGNORED_ALERTS}"}}\n))'
    )


def _overview_alerts() -> Section:
    return section(
        "Alerts",
        stat(
            "Firing alerts by severity",
            """Alerts firing now (Prometheus' ALERTS series), platform and kube-prometheus-stack
            rules alike, without Watchdog and InfoInhibitor, which always fire.""",
            Query(
                f'count by (severity) (ALERTS{{alertstate="firing", '
                f'alertname!~"{IGNORED_ALERTS}"}})',
                "{{severity}}",
            ),
            colours=(("critical", "red"), ("warning", "orange"), ("info", "blue")),
            no_value="0",
        ),
        table(
            "Firing alerts",
            """Each firing alert with its severity and namespace and how many instances fire.
            The runbook is in the alert's annotations (Alertmanager, or Prometheus' Alerts
            page).""",
            Query(firing_alerts()),
            "Instances",
            width=16, descending=True,
        ),
        table(
            "Failed Jobs",
            """Jobs in the Failed condition (kube-state-metrics kube_job_failed): the program's
            webhook gates and Harbor bootstrap (WebhookGateJobFailed, HarborBootstrapJobFailed)
            and any other Job. Delete a failed program Job after fixing its cause, then
            `pulumi up --refresh` runs it again.""",
            Query('max by (namespace, job_name) (kube_job_failed{condition="true"}) == 1'),
            width=24,
        ),
    )


def _overview_backups() -> Section:
    return section(
        "Backups",
        table(
            "Last successful Velero backup",
            """Time since each Velero schedule's last successful backup (velero-tools: the
            tools' and apps' namespaces; velero-openbao-snapshots: OpenBao's snapshot volume).
            Red after 36 hours (VeleroBackupTooOld). Empty when the stack has no backup
            target.""",
            Query('time() - max by (schedule) (velero_backup_last_successful_timestamp'
                  '{schedule!=""})'),
            "Since",
            unit="dtdurations", steps=((None, "green"), (36 * 3600, "red")),
        ),
        stat(
            "Last Velero backup per schedule",
            """Whether each schedule's last backup succeeded (VeleroBackupFailed).""",
            Query('max by (schedule) (velero_backup_last_status{schedule!=""})',
                  "{{schedule}}"),
            mappings=((1, "Succeeded", "green"), (0, "Failed", "red")),
            width=6,
        ),
        stat(
            "Last OpenBao snapshot",
            """Time since the raft snapshot CronJob last succeeded, or since it was created when
            it never has (OpenBaoSnapshotTooOld at 36 hours).""",
            Query('time() - max(kube_cronjob_status_last_successful_time'
                  '{cronjob="openbao-snapshot"})\nor\ntime() - max(kube_cronjob_created'
                  '{cronjob="openbao-snapshot"})'),
            unit="dtdurations", steps=((None, "green"), (36 * 3600, "red")), width=6,
        ),
    )


def _overview(scope: _Scope) -> Dashboard:
    return Dashboard(
        "plate-overview",
        "Overview",
        """Is the platform well? Workload health per tier, Argo CD Applications, OpenBao's seal
        and leader, certificates and volumes nearest their limits, backups, firing alerts.""",
        (_overview_health(scope), _overview_services(), _overview_certificates_and_storage(scope),
         _overview_backups(), _overview_alerts()),
    )


# --- cluster services ---------------------------------------------------------------------------


def _cert_manager(scope: _Scope) -> Dashboard:
    days = scope.expiry_days
    expiry = object_namespace("certmanager_certificate_expiration_timestamp_seconds > 0")
    renewal = object_namespace("certmanager_certificate_renewal_timestamp_seconds > 0")
    ready = object_namespace("certmanager_certificate_ready_status == 1")
    certificates = section(
        "Certificates",
        stat(
            "Certificates by Ready condition",
            """Certificates per Ready condition. False or Unknown for a while fires
            CertificateNotReady: `kubectl describe certificate` and its CertificateRequest,
            Order and Challenge say why.""",
            Query(
                f"count by (condition) (\n  max by (namespace, name, condition) ({ready})\n)",
                "Ready={{condition}}",
            ),
            colours=(("Ready=True", "green"), ("Ready=False", "red"), ("Ready=Unknown", "orange")),
        ),
        stat(
            f"Expiring within {days} days",
            f"""Certificates closer than {days} days to expiry: renewal (due {RENEWAL_DAYS} days
            before expiry) has been failing for a while (CertificateExpiringSoon).""",
            Query(
                f"count(min by (namespace, name) ({expiry}) - time() < {days} * {DAY})"
                " or vector(0)"
            ),
            steps=NONE_BAD,
        ),
        stat(
            "ClusterIssuers",
            """Ready condition of each ClusterIssuer (letsencrypt-production, -staging). Not
            Ready: the ACME account could not be registered - `kubectl describe
            clusterissuer`.""",
            Query(
                'max by (name) (certmanager_clusterissuer_ready_status{condition="True"})',
                "{{name}}",
            ),
            mappings=READY,
        ),
        table(
            "Time to expiry",
            f"""Every issued certificate by time left until notAfter, soonest first. Orange:
            renewal is late ({RENEWAL_DAYS} days); red: under {days} days.""",
            Query(f"sort(min by (namespace, name, issuer_name) ({expiry}) - time())"),
            "Expires in",
            unit="dtdurations", steps=scope.expiry_steps,
        ),
        table(
            "Time to renewal",
            """When cert-manager will renew each certificate; a negative time means renewal is
            due and has not happened yet (look at the CertificateRequests).""",
            Query(f"sort(min by (namespace, name) ({renewal}) - time())"),
            "Renews in",
            unit="dtdurations", steps=((None, "red"), (0, "green")),
        ),
    )
    return Dashboard(
        "plate-cert-manager",
        "cert-manager",
        """Certificates (Ready, expiry, renewal), ClusterIssuers, ACME traffic to Let's Encrypt
        and the controller's errors.""",
        (certificates, _cert_manager_controller(), _workloads(CERT_MANAGER_NAMESPACE)),
    )


def _cert_manager_controller() -> Section:
    acme = "certmanager_http_acme_client_request"
    return section(
        "ACME and controller",
        timeseries(
            "ACME requests by status",
            """Requests to Let's Encrypt's ACME API per action and HTTP status. 429s are rate
            limits; steady 4xx on `finalize` or `challenge` point at a failing solver.""",
            Query(f"sum by (action, status) (rate({acme}_count[5m]))", "{{action}} {{status}}"),
            unit="reqps",
        ),
        timeseries(
            "ACME request time (mean)",
            "Mean latency of ACME requests per action.",
            Query(
                f"sum by (action) (rate({acme}_duration_seconds_sum[5m]))\n/\n"
                f"sum by (action) (rate({acme}_duration_seconds_count[5m]))",
                "{{action}}",
            ),
            unit="s",
        ),
        timeseries(
            "Controller sync errors",
            """Errors per second of each cert-manager controller's sync loop; the controller's
            log names the object.""",
            Query(
                "sum by (controller) (rate(certmanager_controller_sync_error_count[5m]))",
                "{{controller}}",
            ),
            unit="ops",
        ),
    )


def _metallb() -> Dashboard:
    lb = section(
        "LoadBalancer Services",
        table(
            "Addresses handed out",
            """Every LoadBalancer Service with the address MetalLB assigned (kube-state-metrics
            kube_service_status_load_balancer_ingress). Traefik's is the address DNS points
            at.""",
            Query("max by (namespace, service, ip) (kube_service_status_load_balancer_ingress)"),
        ),
        stat(
            "Services waiting for an address",
            """LoadBalancer Services without an ingress address: the pool is exhausted, the
            requested address (metallb.io/loadBalancerIPs) is outside the pool or taken, or the
            controller is down.""",
            Query(
                'count(kube_service_spec_type{type="LoadBalancer"}\n'
                "  unless on (namespace, service) kube_service_status_load_balancer_ingress)\n"
                "or vector(0)"
            ),
            steps=NONE_BAD,
            width=12,
        ),
    )
    return Dashboard(
        "plate-metallb",
        "MetalLB",
        """MetalLB's controller and speakers, the LoadBalancer addresses they hand out and
        announce.""",
        (lb, _metallb_own(), _workloads(METALLB_NAMESPACE)),
    )


def _metallb_own() -> Section:
    """From MetalLB's own metrics (controller and speakers, one scrape job)."""
    job = METALLB_JOB
    return section(
        "MetalLB",
        bargauge(
            "Address pool use",
            """Addresses in use over the pool's size, per IPAddressPool (controller). A full
            pool leaves new LoadBalancer Services pending (MetalLBAddressPoolExhausted).""",
            Query(
                "max by (pool) (metallb_allocator_addresses_in_use_total)\n/\n"
                "max by (pool) (metallb_allocator_addresses_total)",
                "{{pool}}",
            ),
            steps=((None, "green"), (0.8, "orange"), (1, "red")), width=8,
        ),
        stat(
            "Configuration loaded",
            """Whether each MetalLB pod (controller, speakers) has loaded its configuration;
            without it a speaker announces nothing (MetalLBConfigNotLoaded).""",
            Query(f"max by (pod) (metallb_k8s_client_config_loaded_bool{{{job}}})", "{{pod}}"),
            mappings=((1, "Loaded", "green"), (0, "Not loaded", "red")),
        ),
        stat(
            "Configuration stale",
            """Whether a pod runs on a stale configuration: the last one it read was invalid
            (its log says why), so it keeps the previous one.""",
            Query(f"max by (pod) (metallb_k8s_client_config_stale_bool{{{job}}})", "{{pod}}"),
            mappings=((0, "Current", "green"), (1, "Stale", "red")),
        ),
        table(
            "Announcements",
            """Which node's speaker announces each service address (layer 2: one node per
            address). Desired state; ARP caches on the network may lag.""",
            Query(
                "max by (service, protocol, node, ip) "
                f"(metallb_speaker_announced{{{job}}})"
            ),
        ),
        timeseries(
            "ARP/NDP requests received",
            """Layer 2 requests for each service address the speakers answer; none for an
            address in use means clients cannot reach it through MetalLB.""",
            Query(
                f"sum by (ip) (rate(metallb_layer2_requests_received{{{job}}}[5m]))", "{{ip}}"
            ),
            unit="reqps", width=12,
        ),
    )


def _nfs_claims(scope: _Scope) -> Section:
    sel = 'namespace=~"$namespace"'
    claims = (
        f'max by (namespace, persistentvolumeclaim) (kube_persistentvolumeclaim_info{{{sel}, '
        f'storageclass="{scope.storage_class}"}})'
    )

    def on_class(expr: str) -> str:
        return f"{expr}\n* on (namespace, persistentvolumeclaim) group_left ()\n{claims}"

    def per_claim(metric: str, matchers: str = "") -> str:
        return f"max by (namespace, persistentvolumeclaim) ({metric}{{{sel}{matchers}}})"

    hours = scope.thresholds.volume_full_within_hours
    pending = per_claim("kube_persistentvolumeclaim_status_phase", ', phase!="Bound"')
    requested = per_claim("kube_persistentvolumeclaim_resource_requests_storage_bytes")
    forecast = (
        f"predict_linear(kubelet_volume_stats_available_bytes{{{sel}}}[{PVC_PREDICT_WINDOW}], "
        f"{hours} * 3600)"
    )
    legend = "{{namespace}}/{{persistentvolumeclaim}}"
    return section(
        f"Claims of StorageClass {scope.storage_class}",
        bargauge(
            "Used space per claim",
            f"""Used fraction per claim. NFS claims report statfs of the whole export, so all
            claims on one export show the same figure and fill up together. Red from
            {scope.full:.0%} (PersistentVolumeClaimAlmostFull).""",
            Query(on_class(volume_used_ratio(sel)), legend),
            steps=scope.volume_steps,
        ),
        timeseries(
            "Used bytes per claim",
            "Used bytes per claim over time: the slope shows who is writing.",
            Query(on_class(per_claim("kubelet_volume_stats_used_bytes")), legend),
            unit="bytes", width=12,
        ),
        timeseries(
            f"Free space in {hours} h at the current rate",
            f"""Free bytes {hours} hours from now, extrapolated from the last
            {PVC_PREDICT_WINDOW} as PersistentVolumeClaimFillingUp does: below zero means the
            export fills up within {hours} hours at this rate.""",
            Query(on_class(f"max by (namespace, persistentvolumeclaim) ({forecast})"), legend),
            unit="bytes", width=12,
        ),
        table(
            "Requested size per claim",
            """The size each claim requested. On NFS it is not enforced: the export's free
            space is the real limit.""",
            Query(on_class(requested)),
            "Requested",
            unit="bytes", width=8,
        ),
        stat(
            "Claims not Bound",
            """Claims of this StorageClass in phase Pending or Lost. Pending: the provisioner
            could not create the sub-directory (export unreachable, csi-nfs-controller
            down).""",
            Query(
                f"count(\n  {pending} == 1\n"
                f"  and on (namespace, persistentvolumeclaim) {claims}\n) or vector(0)"
            ),
            steps=NONE_BAD, width=4,
        ),
    )


def _nfs_driver() -> Section:
    return section(
        "csi-driver-nfs",
        stat(
            "Provisioner available replicas",
            """Available replicas of csi-nfs-controller, which creates and deletes the
            sub-directories behind claims. At 0 new claims stay Pending
            (NfsProvisionerUnavailable); mounted volumes keep working.""",
            Query(
                "max by (deployment) "
                f"(kube_deployment_status_replicas_available{{{NFS_CONTROLLER}}})",
                "{{deployment}}",
            ),
            steps=ALL_READY, width=12,
        ),
        stat(
            "Nodes without the node plugin",
            """Nodes where csi-nfs-node, which mounts NFS volumes into pods, is unavailable:
            pods scheduled there stay ContainerCreating (NfsNodePluginUnavailable).""",
            Query(
                f"max by (daemonset) (kube_daemonset_status_number_unavailable{{{NFS_NODE}}})",
                "{{daemonset}}",
            ),
            steps=NONE_BAD, width=12,
        ),
    )


def _nfs_storage(scope: _Scope) -> Dashboard:
    return Dashboard(
        "plate-nfs-storage",
        "NFS storage",
        f"""Volumes of the NFS StorageClass {scope.storage_class} and the csi-driver-nfs pods
        that provision and mount them (the driver exports no metrics of its own).""",
        (_nfs_claims(scope), _nfs_driver(), _workloads(NFS_NAMESPACE)),
        (Variable("namespace", "namespace",
                  f'kube_persistentvolumeclaim_info{{storageclass="{scope.storage_class}"}}'),),
    )


def _traefik(scope: _Scope) -> Dashboard:
    requests = "traefik_entrypoint_requests_total"
    entry = section(
        "Entry points",
        timeseries(
            "Requests by entry point",
            "Requests per second on each entry point (web redirects to websecure).",
            Query(f"sum by (entrypoint) (rate({requests}[5m]))", "{{entrypoint}}"),
            unit="reqps",
        ),
        timeseries(
            "5xx ratio by entry point",
            """Share of responses with a 5xx status: a backend failing or unreachable (502,
            503, 504 come from Traefik itself when it cannot reach one).""",
            Query(
                f'sum by (entrypoint) (rate({requests}{{code=~"5.."}}[5m]))\n/\n'
                f"sum by (entrypoint) (rate({requests}[5m]))",
                "{{entrypoint}}",
            ),
            unit="percentunit",
        ),
        timeseries(
            "Response time (p95) by entry point",
            """95th percentile of request duration per entry point (Traefik's default buckets
            are 0.1, 0.3, 1.2 and 5 s, so this is coarse).""",
            Query(
                "histogram_quantile(0.95, sum by (le, entrypoint) "
                "(rate(traefik_entrypoint_request_duration_seconds_bucket[5m])))",
                "{{entrypoint}}",
            ),
            unit="s",
        ),
    )
    return Dashboard(
        "plate-traefik",
        "Traefik",
        """Traefik, the cluster's ingress controller: traffic, errors and latency per entry
        point and service, configuration reloads and the certificates it serves.""",
        (entry, _traefik_services(), _traefik_config(scope), _workloads(TRAEFIK_NAMESPACE)),
    )


def _traefik_services() -> Section:
    requests = "traefik_service_requests_total"
    return section(
        "Services",
        timeseries(
            "Busiest services",
            "Requests per second of the ten busiest Traefik services (one per Ingress backend).",
            Query(f"topk(10, sum by (service) (rate({requests}[5m])))", "{{service}}"),
            unit="reqps",
        ),
        timeseries(
            "Services answering 5xx",
            "5xx responses per second per service, only services with any.",
            Query(f'sum by (service) (rate({requests}{{code=~"5.."}}[5m])) > 0', "{{service}}"),
            unit="reqps",
        ),
        timeseries(
            "Slowest services (p95)",
            "95th percentile response time of the ten slowest services.",
            Query(
                "topk(10, histogram_quantile(0.95, sum by (le, service) "
                "(rate(traefik_service_request_duration_seconds_bucket[5m]))))",
                "{{service}}",
            ),
            unit="s",
        ),
        timeseries(
            "Open connections",
            "Open connections per entry point and protocol.",
            Query(
                "sum by (entrypoint, protocol) (traefik_open_connections)",
                "{{entrypoint}} {{protocol}}",
            ),
            width=24,
        ),
    )


def _traefik_config(scope: _Scope) -> Section:
    return section(
        "Configuration and certificates",
        stat(
            "Last successful configuration reload",
            """When Traefik last applied a new configuration (Ingresses, Secrets). Old while
            Ingresses change means Traefik rejects them: its log says why.""",
            Query("max(traefik_config_last_reload_success) * 1000", "last reload"),
            unit="dateTimeFromNow",
        ),
        timeseries(
            "Configuration reloads (per hour)",
            "How often the configuration changed: every Ingress, Service or Secret change.",
            Query("sum(increase(traefik_config_reloads_total[1h]))", "reloads"),
        ),
        table(
            "Served certificates by expiry",
            """Certificates Traefik serves (the TLS Secrets cert-manager writes), by time left,
            soonest first: cross-check with cert-manager's dashboard when a site shows an old
            certificate.""",
            Query("sort(min by (cn) (traefik_tls_certs_not_after) - time())"),
            "Expires in",
            unit="dtdurations", steps=scope.expiry_steps, width=8,
        ),
    )


# --- developer tools ----------------------------------------------------------------------------


def _argocd(namespace: str) -> Dashboard:
    apps = section(
        "Applications",
        stat(
            "Applications by health",
            "Applications per health status; Degraded fires ArgoCDApplicationDegraded.",
            Query(applications_by("health_status"), "{{health_status}}"),
            colours=APP_HEALTH_COLOURS,
        ),
        stat(
            "Applications by sync status",
            "Applications per sync status; OutOfSync fires ArgoCDApplicationOutOfSync.",
            Query(applications_by("sync_status"), "{{sync_status}}"),
            colours=APP_SYNC_COLOURS,
        ),
        stat(
            "Cluster connection",
            """Whether the application controller reaches each destination cluster (here the
            in-cluster API server).""",
            Query("max by (server) (argocd_cluster_connection_status)", "{{server}}"),
            mappings=((1, "Connected", "green"), (0, "Disconnected", "red")),
        ),
        table(
            "Applications",
            """Every Application with its project, destination namespace, health and sync
            status; `argocd app get <name>` shows the resource that is not Healthy.""",
            Query(
                "max by (name, project, dest_namespace, health_status, sync_status, "
                "autosync_enabled) (argocd_app_info)"
            ),
            width=24,
        ),
    )
    activity = section(
        "Syncs and reconciliation",
        timeseries(
            "Syncs per hour by phase",
            """Sync operations finished in the preceding hour, by phase (Succeeded, Failed,
            Error). Failed syncs: `argocd app get <name>` shows the operation's message.""",
            Query("sum by (phase) (increase(argocd_app_sync_total[1h]))", "{{phase}}"),
            width=12,
        ),
        timeseries(
            "Reconciliation time (p95)",
            """95th percentile of the controller's reconciliation time. Rising: the controller
            is short of CPU or the cluster cache is rebuilding.""",
            Query(
                "histogram_quantile(0.95, sum by (le) (rate(argocd_app_reconcile_bucket[5m])))",
                "p95",
            ),
            unit="s", width=12,
        ),
    )
    return Dashboard(
        "plate-argocd",
        "Argo CD",
        """Argo CD: Applications' health and sync, syncs, reconciliation and the repo server's
        Git traffic.""",
        (apps, activity, _argocd_repo_server(), _workloads(namespace)),
    )


def _argocd_repo_server() -> Section:
    return section(
        "Repository server",
        timeseries(
            "Git requests",
            "Git requests per second of the repo server, by type (fetch, ls-remote).",
            Query(
                "sum by (request_type) (rate(argocd_git_request_total[5m]))", "{{request_type}}"
            ),
            unit="reqps",
        ),
        timeseries(
            "Git request time (p95)",
            "95th percentile duration of Git requests, by type.",
            Query(
                "histogram_quantile(0.95, sum by (le, request_type) "
                "(rate(argocd_git_request_duration_seconds_bucket[5m])))",
                "{{request_type}}",
            ),
            unit="s",
        ),
        timeseries(
            "Git fetch failures (per hour)",
            """Failed fetches per repository: the repository is unreachable or the credentials
            are wrong, so Applications stop following Git.""",
            Query("sum by (repo) (increase(argocd_git_fetch_fail_total[1h]))", "{{repo}}"),
        ),
    )


def _harbor(scope: _Scope) -> Dashboard:
    health = section(
        "Health",
        stat(
            "Components (core's health check)",
            """harbor_up per component from the exporter, which asks core's health API: when
            core is down the exporter reports nothing (HarborCoreDown covers that).""",
            Query("max by (component) (harbor_up)", "{{component}}"),
            mappings=UP_DOWN, width=12,
        ),
        stat(
            "Scrape targets",
            """Whether Prometheus scrapes core, registry, job service and exporter (one
            Service each).""",
            Query(f'max by (service) (up{{namespace="{HARBOR_NAMESPACE}"}})', "{{service}}"),
            mappings=UP_DOWN, width=12,
        ),
    )
    storage = section(
        "Projects and storage",
        stat(
            "Registry storage used",
            "Total storage the registry uses, as Harbor accounts it.",
            Query("max(harbor_statistics_total_storage_consumption)", "used"),
            unit="bytes",
        ),
        stat(
            "Projects and repositories",
            "How many projects and repositories Harbor holds.",
            Query("max(harbor_statistics_total_project_amount)", "projects"),
            Query("max(harbor_statistics_total_repo_amount)", "repositories"),
        ),
        bargauge(
            "Largest projects",
            """Quota usage of the ten largest projects; garbage collection reclaims deleted
            images' layers.""",
            Query(
                "topk(10, max by (project_name) (harbor_project_quota_usage_byte))",
                "{{project_name}}",
            ),
            unit="bytes", width=8, steps=GREEN, maximum=None,
        ),
    )
    return Dashboard(
        "plate-harbor",
        "Harbor",
        """Harbor: component health, API and registry traffic, storage, the job service's queue
        and Harbor's volumes.""",
        (health, _harbor_traffic(), storage, _harbor_jobs(),
         _workloads(HARBOR_NAMESPACE, volumes=scope)),
    )


def _harbor_traffic() -> Section:
    return section(
        "API and registry",
        timeseries(
            "Core API requests by status code",
            "Requests per second to Harbor's API (UI, CLI, robots), by HTTP status code.",
            Query("sum by (code) (rate(harbor_core_http_request_total[5m]))", "{{code}}"),
            unit="reqps",
        ),
        timeseries(
            "Core API latency (p99, slowest operations)",
            "99th percentile duration of the five slowest API operations.",
            Query(
                "topk(5, max by (operation) "
                '(harbor_core_http_request_duration_seconds{quantile="0.99"}))',
                "{{operation}}",
            ),
            unit="s",
        ),
        timeseries(
            "Registry requests by status code",
            """Requests per second to the registry (pushes and pulls), by status code: 401s
            are logins, 5xx are storage or core trouble.""",
            Query("sum by (code) (rate(registry_http_requests_total[5m]))", "{{code}}"),
            unit="reqps",
        ),
        timeseries(
            "Registry request time (p95) by handler",
            "95th percentile duration per registry handler (blob, manifest, ...).",
            Query(
                "histogram_quantile(0.95, sum by (le, handler) "
                "(rate(registry_http_request_duration_seconds_bucket[5m])))",
                "{{handler}}",
            ),
            unit="s", width=12,
        ),
        timeseries(
            "Registry storage time (p95) by action",
            """95th percentile duration of storage operations on the registry's volume: slow
            NFS shows here first.""",
            Query(
                "histogram_quantile(0.95, sum by (le, action) "
                "(rate(registry_storage_action_seconds_bucket[5m])))",
                "{{action}}",
            ),
            unit="s", width=12,
        ),
    )


def _harbor_jobs() -> Section:
    return section(
        "Job service",
        timeseries(
            "Queued tasks by type",
            "Tasks waiting in the job service's queues (replication, scans, GC, ...).",
            Query("max by (type) (harbor_task_queue_size)", "{{type}}"),
        ),
        timeseries(
            "Queue latency by type",
            """How long the oldest queued task of each type has waited: growing means the
            workers are stuck or too few.""",
            Query("max by (type) (harbor_task_queue_latency)", "{{type}}"),
            unit="s",
        ),
        timeseries(
            "Tasks processed by status",
            "Tasks the job service finished per second, by final status.",
            Query("sum by (status) (rate(harbor_jobservice_task_total[5m]))", "{{status}}"),
            unit="ops",
        ),
    )


def _openbao(scope: _Scope) -> Dashboard:
    job = OPENBAO_JOB
    state = section(
        "Seal and leadership",
        stat(
            "Seal state",
            """vault_core_unsealed per pod: a sealed pod serves nothing and does not vote in
            raft (OpenBaoSealed).""",
            Query(openbao_unsealed_by_pod(), "{{pod}}"),
            mappings=((1, "Unsealed", "green"), (0, "Sealed", "red")),
        ),
        stat(
            "Active node",
            "Which pod is the active (leader) node; the others are standbys.",
            Query(f"max by (pod) (vault_core_active{{{job}}})", "{{pod}}"),
            mappings=((1, "Active", "green"), (0, "Standby", "blue")),
        ),
        stat(
            "Scrape targets",
            "Whether Prometheus scrapes each pod's /v1/sys/metrics (OpenBaoTargetDown).",
            Query(f"max by (pod) (up{{{job}}})", "{{pod}}"),
            mappings=UP_DOWN,
        ),
        stat(
            "Raft autopilot",
            """Autopilot's view from the active node: healthy when every voter is alive and
            caught up; failure tolerance = voters that may fail without losing quorum (0 with
            a single replica, as on stg).""",
            Query(f"max(vault_autopilot_healthy{{{job}}})", "healthy"),
            Query(f"max(vault_autopilot_failure_tolerance{{{job}}})", "failure tolerance"),
            steps=((None, "orange"), (1, "green")), width=24,
        ),
    )
    return Dashboard(
        "plate-openbao",
        "OpenBao",
        """OpenBao: seal state and leadership per pod, raft health, requests, leases, audit
        failures and OpenBao's volumes.""",
        (state, _openbao_requests(), _workloads(OPENBAO_NAMESPACE, volumes=scope)),
    )


def _openbao_requests() -> Section:
    job = OPENBAO_JOB
    return section(
        "Requests, leases and audit",
        timeseries(
            "Requests per second",
            "Requests and logins OpenBao handled (External Secrets, the Harbor bootstrap, people).",
            Query(f"sum(rate(vault_core_handle_request_count{{{job}}}[5m]))", "requests"),
            Query(f"sum(rate(vault_core_handle_login_request_count{{{job}}}[5m]))", "logins"),
            unit="reqps",
        ),
        timeseries(
            "Request time (p99)",
            "99th percentile request duration per pod (OpenBao measures in milliseconds).",
            Query(
                f'max by (pod) (vault_core_handle_request{{{job}, quantile="0.99"}})', "{{pod}}"
            ),
            unit="ms",
        ),
        timeseries(
            "In-flight requests",
            "Requests being processed per pod.",
            Query(f"sum by (pod) (vault_core_in_flight_requests{{{job}}})", "{{pod}}"),
        ),
        timeseries(
            "Leases",
            "Leases OpenBao tracks (tokens of Kubernetes logins mostly), from the active node.",
            Query(f"max(vault_expire_num_leases{{{job}}})", "leases"),
        ),
        timeseries(
            "Audit log failures (per hour)",
            """Requests and responses the audit device failed to log. OpenBao refuses a
            request it cannot audit, so any failure is an outage for someone.""",
            Query(f"sum(increase(vault_audit_log_request_failure{{{job}}}[1h]))", "requests"),
            Query(f"sum(increase(vault_audit_log_response_failure{{{job}}}[1h]))", "responses"),
        ),
        timeseries(
            "Leadership losses (per hour)",
            "Times an active node lost leadership: raft elections, restarts, network trouble.",
            Query(f"sum(increase(vault_core_leadership_lost_count{{{job}}}[1h]))", "losses"),
        ),
    )


def _fluentd() -> Dashboard:
    records = "fluentd_input_status_num_records_total"
    source_namespace = (
        f'label_replace(rate({records}[5m]), "source_namespace", "$1", "tag", '
        '"kubernetes[.]var[.]log[.]containers[.][^_]+_([^_]+)_.+")'
    )
    intake = section(
        "Records read",
        stat(
            "Records per second",
            "Log records all Fluentd pods read from the nodes' container logs.",
            Query(f"sum(rate({records}[5m]))", "records/s"),
            unit="cps",
        ),
        timeseries(
            "Records per node",
            """Records read per Fluentd pod (one per node); a node at zero while its pods log
            means that pod is stuck.""",
            Query(f"sum by (hostname) (rate({records}[5m]))", "{{hostname}}"),
            unit="cps",
        ),
        timeseries(
            "Noisiest namespaces",
            "Records per second of the ten namespaces that log the most (from the log file tag).",
            Query(
                f"topk(10, sum by (source_namespace) ({source_namespace}))",
                "{{source_namespace}}",
            ),
            unit="cps",
        ),
    )
    return Dashboard(
        "plate-fluentd",
        "Fluentd",
        """Fluentd, the log collector on every node: records read, records written, output
        errors, retries and buffers.""",
        (intake, _fluentd_output(), _workloads(LOGGING_NAMESPACE)),
    )


def _fluentd_output() -> Section:
    def by_output(expr: str) -> Query:
        return Query(expr, "{{plugin_id}} ({{type}})")

    return section(
        "Output (needs the prometheus_output_monitor source)",
        timeseries(
            "Records written",
            "Records per second each output plugin hands to the log backend.",
            by_output(
                "sum by (plugin_id, type) (rate(fluentd_output_status_emit_records[5m]))"
            ),
            unit="cps",
        ),
        timeseries(
            "Output errors and retries",
            """Write errors in the preceding hour and retries pending, per output: the backend
            is down, refuses the credentials or rejects the records. Fluentd retries forever,
            buffering on disk meanwhile.""",
            by_output("sum by (plugin_id, type) (increase(fluentd_output_status_num_errors[1h]))"),
            Query(
                "sum by (plugin_id) (fluentd_output_status_retry_count)",
                "{{plugin_id}} retries",
            ),
        ),
        timeseries(
            "Buffered bytes per pod",
            """Bytes waiting in each pod's buffer: growing while the backend is unreachable;
            when the buffer is full, reading blocks and logs wait on the nodes.""",
            Query("sum by (pod) (fluentd_output_status_buffer_total_bytes)", "{{pod}}"),
            unit="bytes",
        ),
    )


def _external_secrets() -> Dashboard:
    condition = "externalsecret_status_condition"
    ready = object_namespace(f'{condition}{{condition="Ready"}} == 1')
    not_ready = object_namespace(f'{condition}{{condition="Ready", status="False"}}')
    status = section(
        "ExternalSecrets and stores",
        stat(
            "ExternalSecrets by Ready status",
            """ExternalSecrets per Ready status; False for a while fires
            ExternalSecretNotReady.""",
            Query(
                f"count by (status) (\n  max by (namespace, name, status) ({ready})\n)",
                "Ready={{status}}",
            ),
            colours=(("Ready=True", "green"), ("Ready=False", "red")),
        ),
        stat(
            "ClusterSecretStores",
            """Ready condition of each ClusterSecretStore (openbao-<env>): not Ready means
            OpenBao is unreachable or rejects the store's Kubernetes login.""",
            Query(
                'max by (name) (clustersecretstore_status_condition{condition="Ready", '
                'status="True"})',
                "{{name}}",
            ),
            mappings=READY,
        ),
        table(
            "ExternalSecrets not Ready",
            """Each ExternalSecret whose last sync failed: `kubectl describe externalsecret`
            gives the reason (usually a key missing in OpenBao).""",
            Query(f"max by (namespace, name) ({not_ready}) == 1"),
            width=8,
        ),
    )
    return Dashboard(
        "plate-external-secrets",
        "External Secrets",
        """External Secrets Operator: ExternalSecrets and stores, syncs, calls to OpenBao.""",
        (status, _external_secrets_sync(), _workloads(EXTERNAL_SECRETS_NAMESPACE)),
    )


def _external_secrets_sync() -> Section:
    duration = object_namespace("externalsecret_reconcile_duration")
    return section(
        "Syncs",
        timeseries(
            "Sync calls and errors",
            "Reconciles of ExternalSecrets per second, and those that failed.",
            Query("sum(rate(externalsecret_sync_calls_total[5m]))", "calls"),
            Query("sum(rate(externalsecret_sync_calls_error[5m]))", "errors"),
            unit="ops",
        ),
        timeseries(
            "Calls to the provider by result",
            "Calls to OpenBao (the Vault provider) per call type and result.",
            Query(
                "sum by (provider, call, status) "
                "(rate(externalsecret_provider_api_calls_count[5m]))",
                "{{provider}} {{call}} {{status}}",
            ),
            unit="ops",
        ),
        timeseries(
            "Slowest reconciles",
            "Duration of the last reconcile of the five slowest ExternalSecrets.",
            Query(f"topk(5, max by (namespace, name) ({duration}))", "{{namespace}}/{{name}}"),
            unit="ns",
        ),
    )


# --- the public entry point ---------------------------------------------------------------------


def dashboards(
    *,
    apps_namespace: str,
    argocd_namespace: str = "argocd",
    storage_class: str = "nfs",
    traefik: bool = True,
    thresholds: AlertThresholds | None = None,
) -> dict[str, dict[str, Any]]:
    """Every dashboard as {file name: dashboard JSON}, one ConfigMap key each.

    `apps_namespace` is the applications' namespace (`plate-<env>`), `argocd_namespace` the
    stack's `gitops.argocd_namespace`, `storage_class` its NFS StorageClass (`storage_class`),
    `traefik` whether it runs Traefik (`ingress.controller`, as for the scrape targets), and
    `thresholds` its alerts' (`dev_tools.monitoring.alerts.thresholds`, default the model's):
    panels turn red where the alerts fire.
    """
    scope = _Scope(
        argocd_namespace, apps_namespace, storage_class, traefik,
        thresholds or AlertThresholds(),
    )
    boards = [
        _overview(scope),
        _cert_manager(scope),
        _metallb(),
        _nfs_storage(scope),
        _argocd(argocd_namespace),
        _harbor(scope),
        _openbao(scope),
        _fluentd(),
        _external_secrets(),
    ]
    if traefik:
        boards.append(_traefik(scope))
    return {board.file_name: board.json() for board in boards}
