"""cert-manager's alerts (group `plate-certificates`); runbooks in docs/runbooks/<alert>.md."""

from __future__ import annotations

from typing import Any

from components.config import AlertThresholds
from components.observability.promql import object_namespace
from components.observability.rules import alert

CERT_EXPIRY_FOR = "1h"
"""How long a certificate stays under the threshold before the alert fires (a renewal that is
about to land does not page)."""
CERT_NOT_READY_FOR = "15m"
"""A Certificate not Ready this long: issuance or renewal is stuck (an ACME order takes minutes)."""


def rules(thresholds: AlertThresholds) -> list[dict[str, Any]]:
    # Source: cert-manager v1.21 pkg/metrics/certificates.go + metrics.go.
    #   certmanager_certificate_expiration_timestamp_seconds{name, namespace, issuer_name,
    #   issuer_kind, issuer_group} = status.notAfter, 0 until the first issuance (hence `> 0`);
    #   certmanager_certificate_ready_status{..., condition="True"|"False"|"Unknown"}, 1 on the
    #   current one. Scraped through the chart's `prometheus.servicemonitor.enabled`.
    expiry = object_namespace("certmanager_certificate_expiration_timestamp_seconds > 0")
    not_ready = object_namespace('certmanager_certificate_ready_status{condition!="True"}')
    days = thresholds.certificate_expiry_days
    return [
        alert(
            "CertificateExpiringSoon",
            f"min by (namespace, name, issuer_kind, issuer_name) (\n  {expiry}\n  - time()\n)"
            f" < {days} * 24 * 3600",
            CERT_EXPIRY_FOR,
            "warning",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in "
            "{{ $value | humanizeDuration }}",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} (issuer "
            "{{ $labels.issuer_kind }}/{{ $labels.issuer_name }}) expires in "
            "{{ $value | humanizeDuration }} and cert-manager has not renewed it.",
        ),
        alert(
            "CertificateNotReady",
            f"max by (namespace, name, issuer_kind, issuer_name, condition) (\n  {not_ready}\n)"
            " == 1",
            CERT_NOT_READY_FOR,
            "warning",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} is not Ready",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} (issuer "
            "{{ $labels.issuer_kind }}/{{ $labels.issuer_name }}) has had Ready="
            "{{ $labels.condition }} for more than " + CERT_NOT_READY_FOR + ".",
        ),
    ]
