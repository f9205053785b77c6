"""Where alerts go: Alertmanager's routing and receivers, from `dev_tools.monitoring.alerts`.

kube-prometheus-stack renders `alertmanager.config` into the Secret the Prometheus Operator hands
to Alertmanager; this module builds the parts of it the platform decides (`route`, `receivers`)
and leaves the chart's `global`, `inhibit_rules` and `templates` as they are (Helm merges maps).

Routing is by the alerts' `severity` label (components/observability/alerts.py;
kube-prometheus-stack's own rules use the same three values):

    severity=critical -> receiver `critical`: every receiver listing `critical`, repeated every 4h
    severity=warning  -> receiver `warning`:  every receiver listing `warning`, repeated every 24h
    everything else   -> `null` (severity=info, Watchdog, InfoInhibitor: kube-prometheus-stack
                         sends those nowhere either)

No credential is in the configuration: the SMTP password, the Slack webhook URL and the webhook's
bearer token are files in the Secret `alertmanager-receivers` (Pulumi secrets, the program creates
it), which Alertmanager mounts through `alertmanagerSpec.secrets` and reads with `*_file`
settings. A relay whose certificate a private CA signed is verified against
`email.ca_bundle`: the ConfigMap `alertmanager-smtp-ca` (the program creates it), mounted through
`alertmanagerSpec.configMaps` and named in the e-mail receiver's `tls_config.ca_file`. Every setting
used here exists since Alertmanager 0.25, so Debian's `amtool
check-config` (0.25) validates the rendered configuration in the tests, although the pinned
Alertmanager is newer.
"""

from __future__ import annotations

from typing import Any

from components.config import AlertsConfig, Severity

RECEIVERS_SECRET = "alertmanager-receivers"
"""The Secret holding the receivers' credentials, in the monitoring namespace."""
SECRETS_DIR = f"/etc/alertmanager/secrets/{RECEIVERS_SECRET}"
"""Where the Prometheus Operator mounts it in the Alertmanager pod."""
SMTP_CA_CONFIGMAP = "alertmanager-smtp-ca"
"""The SMTP relay's CA bundle (key ca.crt), in the monitoring namespace."""
# Ref: kube-prometheus-stack 88.5.3 charts/crds/crds/crd-alertmanagers.yaml, `spec.configMaps`:
# each is mounted at /etc/alertmanager/configmaps/<name> in the alertmanager container
SMTP_CA_FILE = f"/etc/alertmanager/configmaps/{SMTP_CA_CONFIGMAP}/ca.crt"

# stack secret key -> file name in the Secret
SECRET_FILES = {
    "alertmanager_smtp_password": "smtp-password",
    "alertmanager_slack_webhook_url": "slack-webhook-url",
    "alertmanager_webhook_token": "webhook-token",
}
REPEAT = {"critical": "4h", "warning": "24h"}
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")


def _file(secret_key: str) -> str:
    return f"{SECRETS_DIR}/{SECRET_FILES[secret_key]}"


def _configs(alerts: AlertsConfig, severity: Severity, secrets: set[str]) -> dict[str, Any]:
    """The receiver for one severity: every configured receiver that asks for it."""
    configs: dict[str, Any] = {}
    email, slack, webhook = alerts.email, alerts.slack, alerts.webhook
    if email is not None and severity in email.severities:
        mail: dict[str, Any] = {
            "to": ", ".join(email.to),
            "from": email.sender,
            "smarthost": email.smarthost,
            "require_tls": True,
            "send_resolved": True,
        }
        if email.username is not None:
            mail["auth_username"] = email.username
            mail["auth_password_file"] = _file("alertmanager_smtp_password")
        if email.ca_bundle is not None:
            mail["tls_config"] = {"ca_file": SMTP_CA_FILE}
        configs["email_configs"] = [mail]
    if slack is not None and severity in slack.severities:
        configs["slack_configs"] = [{
            "api_url_file": _file("alertmanager_slack_webhook_url"),
            "channel": slack.channel,
            "send_resolved": True,
        }]
    if webhook is not None and severity in webhook.severities:
        hook: dict[str, Any] = {"url": webhook.url, "send_resolved": True}
        if "alertmanager_webhook_token" in secrets:
            hook["http_config"] = {
                "authorization": {"credentials_file": _file("alertmanager_webhook_token")}
            }
        configs["webhook_configs"] = [hook]
    return configs


def alertmanager_config(alerts: AlertsConfig, secrets: set[str]) -> dict[str, Any]:
    """`route` and `receivers` of Alertmanager's configuration.

    `secrets` are the stack's secret keys that are set; only the webhook token is optional (the
    config model requires the others with their receivers)."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [
        {"receiver": "null", "matchers": [f'alertname = "{name}"']}
        for name in ("Watchdog", "InfoInhibitor")
    ]
    for severity in SEVERITIES:
        configs = _configs(alerts, severity, secrets)
        if not configs:
            continue
        receivers.append({"name": severity, **configs})
        routes.append({
            "receiver": severity,
            "matchers": [f'severity = "{severity}"'],
            "repeat_interval": REPEAT[severity],
        })
    return {
        "route": {
            "receiver": "null",
            "group_by": ["namespace", "alertname"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": routes,
        },
        "receivers": receivers,
    }


def config_maps(alerts: AlertsConfig) -> list[str]:
    """The ConfigMaps Alertmanager mounts (`alertmanagerSpec.configMaps`): the SMTP relay's CA
    bundle when the e-mail receiver has one."""
    return [SMTP_CA_CONFIGMAP] if alerts.email is not None and alerts.email.ca_bundle else []


def secret_keys_used(alerts: AlertsConfig, secrets: set[str]) -> list[str]:
    """The stack secrets that go into the receivers' Secret, in a fixed order."""
    uses = alerts.credentials()
    return [key for key in SECRET_FILES if uses[key][1] and key in secrets]
