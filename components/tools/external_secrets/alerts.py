"""External Secrets' alerts (group `plate-secrets`); runbooks in docs/runbooks/<alert>.md."""

from __future__ import annotations

from typing import Any

from components.observability.promql import object_namespace
from components.observability.rules import alert

EXTERNAL_SECRET_FOR = "10m"
"""An ExternalSecret not Ready this long (it retries every few seconds, with back-off)."""


def rules() -> list[dict[str, Any]]:
    # Source: External Secrets v2.9 pkg/controllers/externalsecret/esmetrics/esmetrics.go:
    #   externalsecret_status_condition{name, namespace, condition, status} (gauge; the current
    #   Ready status is 1, the opposite one 0). Scraped through the chart's serviceMonitor.enabled.
    not_ready = object_namespace(
        'externalsecret_status_condition{condition="Ready", status="False"}'
    )
    return [
        alert(
            "ExternalSecretNotReady",
            f"max by (namespace, name) (\n  {not_ready}\n) == 1",
            EXTERNAL_SECRET_FOR,
            "warning",
            "ExternalSecret {{ $labels.namespace }}/{{ $labels.name }} is not Ready",
            "ExternalSecret {{ $labels.namespace }}/{{ $labels.name }} has failed to sync "
            "from OpenBao for more than " + EXTERNAL_SECRET_FOR + ".",
        ),
    ]
