"""The house style of the platform's Grafana dashboards, on Grafana Labs' typed builders
(grafana-foundation-sdk): the datasource, tag, time range, refresh and read-only setting every
dashboard shares, panel builders with the house options (`stat_panel()`, `timeseries_panel()`,
...), threshold steps and value mappings, the workloads section every tool dashboard ends with,
and `dashboard(...)`, which lays the sections out and returns the SDK's dashboard builder.

The SDK release: kube-prometheus-stack 88.5.3 deploys Grafana 13.2.0 (the appVersion of its
grafana subchart 12.11.1). The SDK publishes one line per Grafana version up to 11.6 (PyPI
`<epoch>!<grafana version>`; its epoch-only `next` builds follow Grafana's main branch and its
`0.0.x` releases name no Grafana version), so pyproject.toml pins `1769699379!11.6.0`, the newest
11.6 build: the newest line not newer than 13.2. It emits dashboard schema version 41, which
Grafana migrates on load. The epochs do not order the lines (`1769699998!10.1.0` sorts above
`1769699379!11.6.0`, so "latest" is 10.1): the pin is exact, and moving it is a deliberate change
of line.

Only the builders used here are imported: the SDK's modules are large generated code, and the
Pulumi program imports the dashboards at every `pulumi up`.
"""

from __future__ import annotations

import itertools
import json
import string
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DashboardFieldConfigSourceOverrides,
    DashboardLink,
    FieldColor,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BarGaugeValueMode,
    BigValueColorMode,
    BigValueGraphMode,
    BigValueJustifyMode,
    BigValueTextMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TableCellHeight,
    TableColorTextCellOptions,
    TooltipDisplayMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    FieldColorModeId,
    MatcherConfig,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMapping,
    ValueMappingResult,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardFieldConfigSourceOverrides as Override,
)
from grafana_foundation_sdk.models.dashboard import Panel as PanelModel
from grafana_foundation_sdk.models.prometheus import Dataquery, PromQueryFormat

from components.config import AlertThresholds
from components.observability.promql import volume_used_ratio, workload_series

PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
"""kube-prometheus-stack's Grafana datasource (`grafana.sidecar.datasources.uid`)."""
TAG = "plate"
TITLE_PREFIX = "Plate / "
UID_PREFIX = "plate-"
MAX_UID_LENGTH = 40  # Grafana refuses longer uids
TIME_FROM, TIME_TO = "now-6h", "now"
REFRESH = "1m"
GRID_WIDTH = 24  # Grafana's grid
PANEL_HEIGHT = 8
ROW_HEIGHT = 1

LAST_VALUE = "lastNotNull"  # Grafana's reducer id: stats and bars show the latest sample
AUTO_LEGEND = "__auto"  # Grafana's legend from the series' labels
BY_NAME = "byName"  # Grafana's field matcher id, as the SDK's own override_by_name writes it
ORGANIZE = "organize"  # Grafana's transformation that hides and renames table columns

DAY = 24 * 3600
RENEWAL_DAYS = 30
"""cert-manager renews Let's Encrypt's 90-day certificates 30 days before expiry: a certificate
closer than this is late (orange); under `certificate_expiry_days` the alert fires (red)."""
VOLUME_WARN_RATIO = 0.7
"""Volume use from which bars turn orange (red from the alert's `volume_full_percent`)."""

Step = tuple[float | None, str]
"""A threshold step: from this value on (None: the base), this colour (Grafana's colour names)."""
Mapping = tuple[int, str, str]
"""A value mapping: value, text, colour."""

GREEN: tuple[Step, ...] = ((None, "green"),)
ALL_READY: tuple[Step, ...] = ((None, "red"), (1, "green"))
"""A ratio of ready to desired (or a count of good things): below 1 is red."""
NONE_BAD: tuple[Step, ...] = ((None, "green"), (1, "red"))
"""A count of bad things: any is red."""
UP_DOWN: tuple[Mapping, ...] = ((1, "Up", "green"), (0, "Down", "red"))
READY: tuple[Mapping, ...] = ((1, "Ready", "green"), (0, "Not ready", "red"))


# --- colours, thresholds, mappings --------------------------------------------------------------


def thresholds(steps: tuple[Step, ...]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=value, color=colour) for value, colour in steps]
    )


def value_mappings(mappings: tuple[Mapping, ...]) -> list[ValueMapping]:
    """One value map: each value shown as its text in its colour."""
    return [
        ValueMap(
            options={
                str(value): ValueMappingResult(text=text, color=colour, index=i)
                for i, (value, text, colour) in enumerate(mappings)
            }
        )
    ]


def series_colours(*colours: tuple[str, str]) -> list[Builder[Override]]:
    """Overrides giving each named series (its legend) a fixed colour."""
    return [
        DashboardFieldConfigSourceOverrides()
        .matcher(MatcherConfig(id_val=BY_NAME, options=name))
        .properties(
            [DynamicConfigValue(
                id_val="color", value=FieldColor().mode(FieldColorModeId.FIXED)
                .fixed_color(colour).build(),
            )]
        )
        for name, colour in colours
    ]


def full_ratio(alerts: AlertThresholds) -> float:
    """PersistentVolumeClaimAlmostFull's threshold, as a fraction."""
    return alerts.volume_full_percent / 100


def volume_steps(alerts: AlertThresholds) -> tuple[Step, ...]:
    return ((None, "green"), (VOLUME_WARN_RATIO, "orange"), (full_ratio(alerts), "red"))


def expiry_steps(alerts: AlertThresholds) -> tuple[Step, ...]:
    """Seconds to a certificate's expiry: red where CertificateExpiringSoon fires, orange once
    renewal is late."""
    return (
        (None, "red"), (alerts.certificate_expiry_days * DAY, "orange"),
        (RENEWAL_DAYS * DAY, "green"),
    )


# --- queries and panels -------------------------------------------------------------------------


def query(expr: str, legend: str = "") -> prometheus.Dataquery:
    """A PromQL target; `legend` is Grafana's legendFormat (`{{label}}`), empty for Grafana's
    automatic one. `dashboard(...)` gives it its refId and makes it instant except on time
    series panels."""
    return prometheus.Dataquery().expr(expr).legend_format(legend or AUTO_LEGEND).datasource(
        PROMETHEUS
    )


def _latest() -> common.ReduceDataOptions:
    return common.ReduceDataOptions().calcs([LAST_VALUE]).fields("").values(False)


def timeseries_panel() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .datasource(PROMETHEUS)
        .height(PANEL_HEIGHT)
        .span(8)
        .unit(units.Short)
        .color_scheme(FieldColor().mode(FieldColorModeId.PALETTE_CLASSIC))
        .thresholds(thresholds(GREEN))
        .legend(
            common.VizLegendOptions()
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)
        )
    )


def stat_panel() -> stat.Panel:
    """The latest value on a background of its threshold's (or mapping's) colour; series names
    only when there are several."""
    return (
        stat.Panel()
        .datasource(PROMETHEUS)
        .height(PANEL_HEIGHT)
        .span(8)
        .unit(units.NoUnit)
        .color_scheme(FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds(GREEN))
        .reduce_options(_latest())
        .color_mode(BigValueColorMode.BACKGROUND)
        .graph_mode(BigValueGraphMode.NONE)
        .text_mode(BigValueTextMode.AUTO)
        .justify_mode(BigValueJustifyMode.AUTO)
        .orientation(VizOrientation.AUTO)
    )


def table_panel(value_name: str = "", *, descending: bool = False) -> table.Panel:
    """One instant query as rows: its labels as columns, its value as `value_name` in its
    threshold's colour (hidden when empty: an info-style series whose value is always 1), sorted
    by the value."""
    # the SDK types no transformation options: Grafana's organize options, as its editor saves
    columns = DataTransformerConfig(
        id_val=ORGANIZE,
        options={
            "excludeByName": {"Time": True, **({} if value_name else {"Value": True})},
            "renameByName": {"Value": value_name} if value_name else {},
        },
    )
    panel = (
        table.Panel()
        .datasource(PROMETHEUS)
        .height(PANEL_HEIGHT)
        .span(12)
        .unit(units.Short)
        .color_scheme(FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds(GREEN))
        .show_header(True)
        .cell_height(TableCellHeight.SM)
        .with_transformation(columns)
    )
    if value_name:
        panel.sort_by([common.TableSortByFieldState().display_name(value_name).desc(descending)])
        panel.override_by_name(
            value_name,
            [DynamicConfigValue(id_val="custom.cellOptions", value=TableColorTextCellOptions())],
        )
    return panel


def bargauge_panel() -> bargauge.Panel:
    """Horizontal bars, one per series, in their threshold's colour."""
    return (
        bargauge.Panel()
        .datasource(PROMETHEUS)
        .height(PANEL_HEIGHT)
        .span(12)
        .color_scheme(FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds(GREEN))
        .reduce_options(_latest())
        .display_mode(BarGaugeDisplayMode.GRADIENT)
        .orientation(VizOrientation.HORIZONTAL)
        .show_unfilled(True)
        .value_mode(BarGaugeValueMode.COLOR)
    )


def ratio_panel() -> bargauge.Panel:
    """Bars of ratios from 0 to 100%; below 100% is red unless the caller sets other steps."""
    return bargauge_panel().unit(units.PercentUnit).min(0).max(1).thresholds(thresholds(ALL_READY))


def query_variable(name: str, label: str, selector: str) -> QueryVariable:
    """A multi-value variable over the values of `label` in the series `selector` selects, All
    by default; panels use it as `label=~"$name"`."""
    return (
        QueryVariable(name)
        .label(label)
        .query(f"label_values({selector}, {label})")
        .datasource(PROMETHEUS)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)  # new series appear without a reload
        .include_all(True)
        .all_value(".+")
        .multi(True)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .current(VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


# --- sections and dashboards --------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A titled row of panels; panels flow left to right and fill whole lines of 24 columns."""

    title: str
    panels: tuple[Builder[PanelModel], ...]


def section(title: str, *panels: Builder[PanelModel]) -> Section:
    return Section(title, panels)


def workloads(namespace: str, volumes: AlertThresholds | None = None) -> Section:
    """Ready replicas and container restarts of `namespace`; with `volumes` (the alerts'
    thresholds), the use of its PersistentVolumeClaims too."""
    sel = f'namespace="{namespace}"'
    width = 12 if volumes is None else 8
    ready = ratio_panel().title("Ready replicas").description(
        f"""Ready (StatefulSet) or available (Deployment, DaemonSet) replicas over desired, per
        workload in {namespace}, from kube-state-metrics. Below 100%: a pod is crash-looping,
        unschedulable or failing its readiness probe - `kubectl -n {namespace} get pods`."""
    ).span(width)
    for kind, ready_series, desired in workload_series(sel):
        ready.with_target(query(f"{ready_series} / {desired}", "{{" + kind + "}}"))
    restarts = (
        timeseries_panel()
        .title("Container restarts (last hour)")
        .description(
            f"""Restarts per container in {namespace} over the preceding hour (only containers
            that restarted). A steady climb is a crash loop: its previous log (`kubectl logs
            --previous`) says why."""
        )
        .span(width)
        .with_target(query(
            "sum by (pod, container) (\n"
            f"  increase(kube_pod_container_status_restarts_total{{{sel}}}[1h])\n) > 0",
            "{{pod}}/{{container}}",
        ))
    )
    if volumes is None:
        return section(f"Workloads in {namespace}", ready, restarts)
    used = (
        ratio_panel()
        .title("Volume use")
        .description(
            f"""Used fraction of each PersistentVolumeClaim in {namespace} (kubelet volume
            stats). Orange from {VOLUME_WARN_RATIO:.0%}, red from {full_ratio(volumes):.0%},
            where PersistentVolumeClaimAlmostFull fires. NFS volumes report their whole
            export."""
        )
        .span(8)
        .thresholds(thresholds(volume_steps(volumes)))
        .with_target(query(volume_used_ratio(sel), "{{persistentvolumeclaim}}"))
    )
    return section(f"Workloads and volumes in {namespace}", ready, restarts, used)


def _prose(text: str) -> str:
    """Descriptions are written as indented paragraphs in the source: one line in the JSON."""
    return " ".join(text.split())


def _finish(panel: PanelModel, panel_id: int) -> None:
    """What Grafana's editor would fill in: the panel's id and its targets' refIds (A, B, ...).
    And the house rule for queries: every panel but a time series shows the latest value, so its
    queries are instant; a table takes its query as a table."""
    panel.id_val = panel_id
    panel.description = _prose(panel.description or "")
    series = panel.type_val == "timeseries"
    for ref, target in zip(string.ascii_uppercase, panel.targets or (), strict=False):
        if not isinstance(target, Dataquery):
            raise TypeError(f"{panel.title}: only Prometheus queries, not {type(target).__name__}")
        target.ref_id = ref
        target.instant, target.range_val = not series, series
        if panel.type_val == "table":
            target.format_val = PromQueryFormat.TABLE


def _place(where: str, panel: PanelModel, x: int) -> int:
    """The column after `panel`, which starts at `x`. The SDK starts a new line only once a line
    is full, so a panel wider than what is left of its line would overflow the grid: refused."""
    width = panel.grid_pos.w if panel.grid_pos is not None else GRID_WIDTH
    if x + width > GRID_WIDTH:
        raise ValueError(
            f"{where} / {panel.title}: {width} columns do not fit the {GRID_WIDTH - x} left on "
            "its line; make the section's panels fill whole lines"
        )
    return (x + width) % GRID_WIDTH


def dashboard(uid: str, title: str, description: str, *sections: Section) -> Dashboard:
    """A dashboard of the house: uid `plate-...`, titled "Plate / <title>", tagged `plate`,
    linking to the other dashboards, read-only (provisioned: its source is this repository), its
    sections one row each. Chain `.with_variable(...)` for template variables."""
    if not uid.startswith(UID_PREFIX) or len(uid) > MAX_UID_LENGTH:
        raise ValueError(
            f"dashboard uid {uid!r}: must start with {UID_PREFIX!r} and have at most "
            f"{MAX_UID_LENGTH} characters (Grafana's limit)"
        )
    board = (
        Dashboard(f"{TITLE_PREFIX}{title}")
        .uid(uid)
        .description(_prose(description))
        .tags([TAG])
        .time(TIME_FROM, TIME_TO)
        .refresh(REFRESH)
        .readonly()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .timezone("browser")
        .link(
            DashboardLink("Plate dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .keep_time(True)
            .include_vars(False)
        )
        .annotations([])
        .variables([])
    )
    ids = itertools.count(1)
    for s in sections:
        board.with_row(Row(s.title).id(next(ids)))
        x = 0
        for panel in s.panels:
            built = panel.build()
            _finish(built, next(ids))
            x = _place(f"{uid} / {s.title}", built, x)
            board.with_panel(panel)
    return board


def file_name(board: Dashboard) -> str:
    """The ConfigMap key of a dashboard: its uid, `.json`."""
    return f"{board.build().uid}.json"


def to_json(board: Dashboard) -> dict[str, Any]:
    """The dashboard as plain JSON data (what the sidecar hands Grafana)."""
    data: dict[str, Any] = json.loads(JSONEncoder().encode(board.build()))
    return data
