"""The platform's alert rules (components/observability/alerts.py), checked by Prometheus's own
tools.

Verifies: the generated rules file passes `promtool check rules`; every group's promtool unit tests
in tests/engines/alerts/<group>.yaml pass against it (`promtool test rules`: synthetic series at
eval times where each alert must fire, with its exact labels, summary and description, and where it
must not: healthy series, other objects, before `for:`, after recovery); the fixtures are one per
group and test every alert both firing and silent; breaking an expression (the 14-day certificate
threshold raised to 40, the never-issued guard dropped, the PVC threshold raised, the Job condition
flipped) makes those unit tests fail; every alert has severity critical or warning, non-empty
summary and description and a static `runbook_url` (so the harness can fill it in); alert and group
names are unique; the PrometheusRule groups and the rules file agree. The runbook documents the
URLs point at are checked in tests/unit/test_runbooks.py.

The fixtures hold `rule_files: [rules.yaml]`; each test writes `rules_file()` as rules.yaml into a
temporary folder next to a copy of the fixture whose expected alerts get their `runbook_url`
annotation from the rule (promtool compares the whole annotation set; the URL depends on the stack's
repository and revision and is checked in tests/unit/test_runbooks.py), then runs promtool in that
folder. promtool comes from Debian's
`prometheus` package (.ci/run installs it); without it the tests fail, they never skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import AlertThresholds
from components.observability import alerts, rules

FIXTURES = Path(__file__).resolve().parent / "alerts"
GROUPS = {group["name"]: group for group in alerts.platform_rule_groups()}
PROMTOOL_TIMEOUT = 60


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found on PATH: .ci/run installs it (apt-get install prometheus)")
    return found


def _fixture_name(group: str) -> str:
    return group.removeprefix("plate-") + ".yaml"


def _runbook_urls() -> dict[str, str]:
    return {
        rule["alert"]: rule["annotations"]["runbook_url"]
        for group in GROUPS.values()
        for rule in group["rules"]
    }


def _prepared(fixture: Path, rules: str, workdir: Path) -> Path:
    """`fixture` copied into `workdir` next to `rules` (as rules.yaml), every expected alert with
    its rule's runbook_url."""
    tests = yaml.safe_load(fixture.read_text())
    assert tests["rule_files"] == ["rules.yaml"], fixture.name
    urls = _runbook_urls()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            for expected in check.get("exp_alerts") or []:
                expected["exp_annotations"]["runbook_url"] = urls[check["alertname"]]
    (workdir / "rules.yaml").write_text(rules)
    target = workdir / fixture.name
    target.write_text(yaml.safe_dump(tests, sort_keys=False, width=1_000_000))
    return target


def _promtool_test(fixture: Path, rules: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    target = _prepared(fixture, rules, workdir)
    return subprocess.run(
        [_promtool(), "test", "rules", target.name],
        cwd=workdir, capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT,
    )


def test_promtool_check_rules_accepts_the_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(alerts.rules_file())
    result = subprocess.run(
        [_promtool(), "check", "rules", str(path)],
        capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rule_count = sum(len(group["rules"]) for group in GROUPS.values())
    assert f"SUCCESS: {rule_count} rules found" in result.stdout


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_promtool_unit_tests_of_the_group_pass(group: str, tmp_path: Path) -> None:
    result = _promtool_test(FIXTURES / _fixture_name(group), alerts.rules_file(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


MUTATIONS = [
    # (group, text in the rules file, replacement): each must make the group's unit tests fail
    ("plate-certificates", "< 14 * 24 * 3600", "< 40 * 24 * 3600"),
    ("plate-certificates", "_timestamp_seconds > 0,", "_timestamp_seconds >= 0,"),
    ("plate-storage", "> 0.85\n", "> 0.95\n"),
    ("plate-jobs", 'kube_job_failed{condition="true"', 'kube_job_failed{condition="false"'),
    ("plate-cluster", ">= on (pool)", "> on (pool)"),
    ("plate-cluster", '{job="metallb-metrics"}', ""),
    ("plate-backups", "> 36 * 3600", "> 40 * 3600"),
    ("plate-backups", 'velero_backup_last_status{schedule!=""}', "velero_backup_last_status"),
    ("plate-backups", "  unless on (namespace, cronjob)\n", "  and on (namespace, cronjob)\n"),
    ("plate-dns", ") > 15 * 60\n", ") > 40 * 60\n"),
    ("plate-dns", 'up{namespace="external-dns"}) == 0', 'up{namespace="external-dns"}) == 1'),
]


def test_the_stack_thresholds_reach_the_rules(tmp_path: Path) -> None:
    tuned = AlertThresholds(
        certificate_expiry_days=7, volume_full_percent=90, volume_full_within_hours=12
    )
    groups = {group["name"]: group for group in alerts.platform_rule_groups(tuned)}
    exprs = {rule["alert"]: rule["expr"] for group in groups.values() for rule in group["rules"]}
    assert exprs["CertificateExpiringSoon"].endswith(") < 7 * 24 * 3600")
    assert exprs["PersistentVolumeClaimAlmostFull"].endswith(") > 0.9")
    assert "predict_linear(kubelet_volume_stats_available_bytes[6h], 12 * 3600)" in exprs[
        "PersistentVolumeClaimFillingUp"
    ]
    # only those three expressions differ from the defaults' ...
    defaults = {r["alert"]: r["expr"] for g in GROUPS.values() for r in g["rules"]}
    assert {name for name in exprs if exprs[name] != defaults[name]} == {
        "CertificateExpiringSoon", "PersistentVolumeClaimAlmostFull",
        "PersistentVolumeClaimFillingUp",
    }
    # ... and the tuned file is still valid for Prometheus
    path = tmp_path / "rules.yaml"
    path.write_text(alerts.rules_file(tuned))
    result = subprocess.run(
        [_promtool(), "check", "rules", str(path)],
        capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("group", "old", "new"), MUTATIONS)
def test_a_broken_expression_fails_the_unit_tests(
    group: str, old: str, new: str, tmp_path: Path
) -> None:
    rules = alerts.rules_file()
    assert old in rules, f"mutation target {old!r} is no longer in the rules file"
    result = _promtool_test(FIXTURES / _fixture_name(group), rules.replace(old, new), tmp_path)
    assert result.returncode != 0, f"{group}: the unit tests still pass with {old!r} -> {new!r}"
    assert "FAILED" in result.stdout + result.stderr


def test_one_fixture_per_group() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.yaml")) == sorted(map(_fixture_name, GROUPS))
    assert list(GROUPS) == [
        "plate-cluster", "plate-certificates", "plate-dns", "plate-gitops", "plate-openbao",
        "plate-harbor", "plate-storage", "plate-secrets", "plate-jobs", "plate-backups",
    ]


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_fixtures_test_every_alert_firing_and_silent(group: str) -> None:
    checks = [
        check
        for case in yaml.safe_load((FIXTURES / _fixture_name(group)).read_text())["tests"]
        for check in case["alert_rule_test"]
    ]
    fires = {c["alertname"] for c in checks if c.get("exp_alerts")}
    silent = {c["alertname"] for c in checks if not c.get("exp_alerts")}
    names = {rule["alert"] for rule in GROUPS[group]["rules"]}
    assert fires == names, f"{group}: alerts never asserted firing: {sorted(names - fires)}"
    assert silent == names, f"{group}: alerts never asserted silent: {sorted(names - silent)}"
    for check in checks:
        for expected in check.get("exp_alerts") or []:
            assert expected["exp_labels"]["severity"] in rules.SEVERITIES
            assert set(expected["exp_annotations"]) == {"summary", "description"}


def _rules() -> list[dict[str, Any]]:
    return [rule for group in GROUPS.values() for rule in group["rules"]]


def test_every_alert_has_severity_summary_description_and_a_static_runbook_url() -> None:
    for rule in _rules():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"] == {"severity": rule["labels"]["severity"]}, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, rule["alert"]
        assert all(text.strip() for text in annotations.values()), rule["alert"]
        assert "{{" not in annotations["runbook_url"], rule["alert"]  # static: no template
        assert annotations["runbook_url"].startswith("https://"), rule["alert"]


def test_alert_and_group_names_are_unique() -> None:
    names = [rule["alert"] for rule in _rules()]
    assert len(names) == len(set(names)), names
    groups = [group["name"] for group in alerts.platform_rule_groups()]
    assert len(groups) == len(set(groups)), groups


def test_the_rules_file_holds_the_prometheusrule_groups() -> None:
    assert yaml.safe_load(alerts.rules_file()) == {"groups": alerts.platform_rule_groups()}


def test_an_unknown_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="severity 'page'"):
        rules.alert("X", "vector(1)", "1m", "page", "s", "d")
