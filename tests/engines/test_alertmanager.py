"""Where alerts go (components/tools/kube_prometheus_stack/alertmanager.py), checked by
Alertmanager's own `amtool`.

Verifies: the configuration built from `dev_tools.monitoring.alerts` passes `amtool check-config`
for every receiver combination; `amtool config routes test` (Alertmanager's own router) sends
critical alerts to every receiver that asks for them, warnings to the others, and Watchdog, info
and unlabelled alerts nowhere; credentials are only file paths into the receivers' Secret, which
holds exactly the files the configuration reads (what kube-prometheus-stack renders from it is
checked in tests/engines/test_render.py); bad receiver or threshold settings, a production stack
without a receiver, a receiver without its secret and a secret without its receiver are config
errors naming the key, before any resource.

amtool comes from Debian's `prometheus-alertmanager` package (0.25; .ci/run installs it), older
than the pinned Alertmanager: the settings used exist since 0.25 (see the module's docstring), and
the tests fail, never skip, without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import AlertsConfig
from components.tools.kube_prometheus_stack import alertmanager
from tests.harness import is_secret, recorded, refusal, with_settings
from tooling.evaluate import placeholder

AMTOOL_TIMEOUT = 30
EMAIL = {
    "to": ["oncall@plate.dev", "lead@plate.dev"], "sender": "alertmanager@plate.dev",
    "smarthost": "smtp.plate.dev:587", "username": "alertmanager",
}
SLACK = {"channel": "#platform-alerts", "severities": ["critical", "warning"]}
WEBHOOK = {"url": "https://oncall.plate.dev/hooks/am", "severities": ["critical"]}


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("amtool")
    if found is None:
        pytest.fail("amtool not found on PATH: .ci/run installs it (apt-get install "
                    "prometheus-alertmanager)")
    return subprocess.run(
        [found, *args], capture_output=True, text=True, timeout=AMTOOL_TIMEOUT
    )


def _write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _receiver(config_file: Path, **labels: str) -> str:
    """The receiver Alertmanager's router picks for an alert with `labels`."""
    result = _amtool(
        "config", "routes", "test", f"--config.file={config_file}",
        *(f"{key}={value}" for key, value in labels.items()),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


COMBINATIONS = {
    "email": {"email": EMAIL},
    "slack": {"slack": SLACK},
    "webhook": {"webhook": WEBHOOK},
    "all": {"email": {**EMAIL, "severities": ["warning"]}, "slack": SLACK, "webhook": WEBHOOK},
    "none": {},
}


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_amtool_accepts_the_configuration(combination: str, tmp_path: Path) -> None:
    alerts = AlertsConfig.model_validate(COMBINATIONS[combination])
    secrets = set(alertmanager.SECRET_FILES)
    result = _amtool("check-config", str(_write(tmp_path, alertmanager.alertmanager_config(
        alerts, secrets))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_routes_each_severity_to_the_receivers_that_asked_for_it(
    tmp_path: Path,
) -> None:
    alerts = AlertsConfig.model_validate(COMBINATIONS["all"])
    config = alertmanager.alertmanager_config(alerts, set(alertmanager.SECRET_FILES))
    path = _write(tmp_path, config)
    assert _receiver(path, alertname="OpenBaoSealed", severity="critical") == "critical"
    assert _receiver(path, alertname="CertificateExpiringSoon", severity="warning") == "warning"
    assert _receiver(path, alertname="Watchdog", severity="none") == "null"
    assert _receiver(path, alertname="InfoInhibitor", severity="none") == "null"
    assert _receiver(path, alertname="KubeletTooManyPods", severity="info") == "null"
    assert _receiver(path, alertname="Unlabelled") == "null"
    receivers = {r["name"]: r for r in config["receivers"]}
    # email asked for warnings only, the webhook for critical only, Slack for both
    assert set(receivers["critical"]) == {"name", "slack_configs", "webhook_configs"}
    assert set(receivers["warning"]) == {"name", "email_configs", "slack_configs"}


def test_a_severity_nobody_asked_for_goes_nowhere(tmp_path: Path) -> None:
    alerts = AlertsConfig.model_validate({"webhook": WEBHOOK})
    path = _write(tmp_path, alertmanager.alertmanager_config(alerts, set()))
    assert _receiver(path, alertname="OpenBaoSealed", severity="critical") == "critical"
    assert _receiver(path, alertname="CertificateExpiringSoon", severity="warning") == "null"


def test_credentials_are_files_in_the_receivers_secret() -> None:
    alerts = AlertsConfig.model_validate(COMBINATIONS["all"])
    secrets = set(alertmanager.SECRET_FILES)
    config = alertmanager.alertmanager_config(alerts, secrets)
    receivers = {r["name"]: r for r in config["receivers"]}
    directory = "/etc/alertmanager/secrets/alertmanager-receivers"
    assert receivers["warning"]["email_configs"] == [{
        "to": "oncall@plate.dev, lead@plate.dev", "from": "alertmanager@plate.dev",
        "smarthost": "smtp.plate.dev:587", "require_tls": True, "send_resolved": True,
        "auth_username": "alertmanager", "auth_password_file": f"{directory}/smtp-password",
    }]
    assert receivers["critical"]["slack_configs"] == [{
        "api_url_file": f"{directory}/slack-webhook-url", "channel": "#platform-alerts",
        "send_resolved": True,
    }]
    assert receivers["critical"]["webhook_configs"] == [{
        "url": "https://oncall.plate.dev/hooks/am", "send_resolved": True,
        "http_config": {"authorization": {"credentials_file": f"{directory}/webhook-token"}},
    }]
    assert alertmanager.secret_keys_used(alerts, secrets) == list(alertmanager.SECRET_FILES)
    # the webhook's token is optional: without it, no credentials_file to a missing file
    no_token = alertmanager.alertmanager_config(alerts, secrets - {"alertmanager_webhook_token"})
    assert {r["name"]: r for r in no_token["receivers"]}["critical"]["webhook_configs"] == [
        {"url": "https://oncall.plate.dev/hooks/am", "send_resolved": True}
    ]


def test_the_receivers_secret_is_a_pulumi_secret_and_only_exists_with_credentials() -> None:
    rec = recorded("prod")
    secret = rec.one("kubernetes:core/v1:Secret", "alertmanager-receivers")
    assert is_secret(secret.inputs["stringData"])
    password = placeholder("alertmanager_smtp_password")
    assert secret.plain("stringData") == {"smtp-password": password}
    chart = rec.one("kubernetes:helm.sh/v4:Chart", "kube-prometheus-stack")
    assert secret.urn in chart.dependencies
    # stg configures no receiver: no Secret, nothing mounted
    stg = recorded("stg")
    assert [r for r in stg.resources if r.name == "alertmanager-receivers"] == []
    values = stg.one("kubernetes:helm.sh/v4:Chart", "kube-prometheus-stack").plain("values")
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == []


def _refusal(
    stack: str, alerts: dict[str, Any], drop: set[str] = frozenset(), add: set[str] = frozenset()
) -> list[str]:
    """The problems of `stack` with `dev_tools.monitoring.alerts` replaced (harness.refusal)."""
    return refusal(stack, with_settings(stack, {"dev_tools.monitoring.alerts": alerts}), drop, add)


BAD = [
    # (stack, alerts settings, the expected problem)
    ("prod", {}, "dev_tools.monitoring.alerts: a production stack needs at least one receiver"),
    ("stg", {"email": {**EMAIL, "smarthost": "smtp.plate.dev"}},
     "dev_tools.monitoring.alerts.email.smarthost: 'smtp.plate.dev' is not an SMTP relay"),
    ("stg", {"slack": {"channel": "platform"}},
     "dev_tools.monitoring.alerts.slack.channel: 'platform' is not a channel name"),
    ("stg", {"webhook": {"url": "ftp://x.plate.dev"}},
     "dev_tools.monitoring.alerts.webhook.url: 'ftp://x.plate.dev' is not an http(s) URL"),
    ("stg", {"webhook": {**WEBHOOK, "severities": []}},
     "dev_tools.monitoring.alerts.webhook.severities"),
    ("stg", {"webhook": {**WEBHOOK, "severities": ["page"]}},
     "dev_tools.monitoring.alerts.webhook.severities[0]"),
    ("stg", {"thresholds": {"certificate_expiry_days": 30}},
     "dev_tools.monitoring.alerts.thresholds.certificate_expiry_days"),
    ("stg", {"thresholds": {"volume_full_percent": 100}},
     "dev_tools.monitoring.alerts.thresholds.volume_full_percent"),
    ("stg", {"thresholds": {"volume_full_within_hours": 0}},
     "dev_tools.monitoring.alerts.thresholds.volume_full_within_hours"),
]


@pytest.mark.parametrize(("stack", "alerts", "problem"), BAD)
def test_bad_alert_settings_are_config_errors_before_any_resource(
    stack: str, alerts: dict[str, Any], problem: str
) -> None:
    problems = _refusal(stack, alerts)
    assert any(p.startswith(problem) for p in problems), problems


MISSING_SECRETS = [
    # (alerts settings, secrets dropped, secrets added, the expected problem)
    ({"email": EMAIL}, {"alertmanager_smtp_password"}, set(),
     "alertmanager_smtp_password: required when dev_tools.monitoring.alerts.email.username is set"),
    ({"slack": SLACK}, {"alertmanager_slack_webhook_url"}, set(),
     "alertmanager_slack_webhook_url: required when dev_tools.monitoring.alerts.slack is set"),
    ({}, set(), {"alertmanager_webhook_token"},
     "alertmanager_webhook_token: set, but dev_tools.monitoring.alerts.webhook is not"),
    ({"email": {k: v for k, v in EMAIL.items() if k != "username"}}, set(),
     {"alertmanager_smtp_password"},
     "alertmanager_smtp_password: set, but dev_tools.monitoring.alerts.email.username is not"),
]


@pytest.mark.parametrize(("alerts", "drop", "add", "problem"), MISSING_SECRETS)
def test_a_receiver_without_its_secret_or_a_secret_without_its_receiver_is_refused(
    alerts: dict[str, Any], drop: set[str], add: set[str], problem: str
) -> None:
    problems = _refusal("stg", alerts, drop, add)
    assert any(p.startswith(problem) for p in problems), problems
