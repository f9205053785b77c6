"""The alerts' runbooks (docs/runbooks/, monitoring-mixin convention) and their links.

Verifies: every alert of `platform_rule_groups()` carries `runbook_url` = `<base>/<alert>.md`, for
the default base and for a stack's own; docs/runbooks/<alert>.md exists for every alert with the
headings `# <alert>`, `## Meaning`, `## Impact`, `## Diagnosis`, `## Mitigation` - exactly those,
in that order, none empty; no runbook exists without its alert; the index docs/runbooks/README.md
lists exactly the alerts, in the rules' order, with their severity, group, link and a summary;
`runbook_base_url` turns each accepted form of `gitops.repo_url` into the web URL of the runbooks
folder at the revision (GitHub, GitLab, SSH, unknown hosts) and refuses what is not a git URL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.observability import alerts, rules

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
INDEX = RUNBOOKS / "README.md"
HEADINGS = ["Meaning", "Impact", "Diagnosis", "Mitigation"]
RULES = [
    (group["name"], rule)
    for group in alerts.platform_rule_groups()
    for rule in group["rules"]
]
NAMES = [rule["alert"] for _, rule in RULES]


def test_the_default_base_is_this_repository_at_main() -> None:
    assert rules.DEFAULT_RUNBOOK_BASE == (
        "https://github.com/plate-dev/plate-platform/blob/main/docs/runbooks"
    )


@pytest.mark.parametrize(
    "base",
    [
        rules.DEFAULT_RUNBOOK_BASE,
        "https://gitlab.example.com/ops/platform/-/blob/v1.4.0/docs/runbooks",
        "https://gitlab.example.com/ops/platform/-/blob/v1.4.0/docs/runbooks/",
    ],
)
def test_every_alert_links_to_its_runbook(base: str) -> None:
    groups = (
        alerts.platform_rule_groups()
        if base == rules.DEFAULT_RUNBOOK_BASE
        else alerts.platform_rule_groups(runbook_base=base)
    )
    for group in groups:
        for rule in group["rules"]:
            assert rule["annotations"]["runbook_url"] == (
                f"{base.rstrip('/')}/{rule['alert']}.md"
            ), rule["alert"]
            assert "runbook" not in rule["annotations"], rule["alert"]


def test_the_rules_file_carries_the_base() -> None:
    base = "https://github.com/org/repo/blob/v2.0.0/docs/runbooks"
    text = alerts.rules_file(runbook_base=base)
    assert text.count(f"runbook_url: {base}/") == len(NAMES)


def _sections(name: str) -> list[tuple[str, str]]:
    """(heading line, body) of each `#`/`##` heading of docs/runbooks/<name>.md, in order; the
    body of the title is what precedes the first `##`."""
    text = (RUNBOOKS / f"{name}.md").read_text()
    sections: list[tuple[str, str]] = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        if not in_code and re.match(r"#{1,6} ", line):
            sections.append((line.rstrip(), ""))
        elif sections:
            heading, body = sections[-1]
            sections[-1] = (heading, body + line + "\n")
        else:
            assert not line.strip(), f"{name}.md: text before the title: {line!r}"
    return sections


@pytest.mark.parametrize("name", NAMES)
def test_every_alert_has_a_runbook_with_the_four_headings(name: str) -> None:
    assert (RUNBOOKS / f"{name}.md").is_file(), f"docs/runbooks/{name}.md is missing"
    sections = _sections(name)
    assert [heading for heading, _ in sections] == [f"# {name}"] + [f"## {h}" for h in HEADINGS]
    for heading, body in sections[1:]:
        assert body.strip(), f"{name}.md: {heading!r} is empty"


def test_no_runbook_without_an_alert() -> None:
    documents = {path.stem for path in RUNBOOKS.glob("*.md")} - {"README"}
    assert documents == set(NAMES), f"orphan runbooks: {sorted(documents - set(NAMES))}"
    assert {path.name for path in RUNBOOKS.iterdir()} == {f"{n}.md" for n in NAMES} | {"README.md"}


def _index_rows() -> list[list[str]]:
    lines = [line for line in INDEX.read_text().splitlines() if line.startswith("|")]
    assert lines[0] == "| Alert | Severity | Group | Summary |", lines[0]
    assert re.fullmatch(r"\|(-+\|){4}", lines[1]), lines[1]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_the_index_lists_exactly_the_alerts() -> None:
    rows = _index_rows()
    assert [row[0] for row in rows] == [f"[{name}]({name}.md)" for name in NAMES]
    for (group, rule), (_, severity, group_cell, summary) in zip(RULES, rows, strict=True):
        assert severity == rule["labels"]["severity"], rule["alert"]
        assert group_cell == group, rule["alert"]
        assert summary, rule["alert"]


@pytest.mark.parametrize(
    ("repo_url", "revision", "expected"),
    [
        (
            "https://github.com/plate-dev/plate-platform.git", "main",
            "https://github.com/plate-dev/plate-platform/blob/main/docs/runbooks",
        ),
        (
            "https://github.com/plate-dev/plate-platform", "v1.4.0",
            "https://github.com/plate-dev/plate-platform/blob/v1.4.0/docs/runbooks",
        ),
        (
            "git@github.com:org/repo.git", "0123456789abcdef0123456789abcdef01234567",
            "https://github.com/org/repo/blob/0123456789abcdef0123456789abcdef01234567"
            "/docs/runbooks",
        ),
        (
            "https://gitlab.com/group/platform.git", "v1.4.0",
            "https://gitlab.com/group/platform/-/blob/v1.4.0/docs/runbooks",
        ),
        (
            "https://gitlab.example.com/group/sub/platform.git", "main",
            "https://gitlab.example.com/group/sub/platform/-/blob/main/docs/runbooks",
        ),
        (
            "git@gitlab.example.com:group/platform.git", "release/1.4",
            "https://gitlab.example.com/group/platform/-/blob/release/1.4/docs/runbooks",
        ),
        (
            "https://oauth2:secret@gitlab.example.com/group/platform.git", "main",
            "https://gitlab.example.com/group/platform/-/blob/main/docs/runbooks",
        ),
        (
            "https://git.example.org/team/platform.git/", "main",
            "https://git.example.org/team/platform/blob/main/docs/runbooks",
        ),
        (
            "git@git.example.org:team/platform", "main",
            "https://git.example.org/team/platform/blob/main/docs/runbooks",
        ),
    ],
)
def test_runbook_base_url(repo_url: str, revision: str, expected: str) -> None:
    assert rules.runbook_base_url(repo_url, revision) == expected


@pytest.mark.parametrize(
    ("repo_url", "revision"),
    [
        ("ssh://git@github.com/org/repo.git", "main"),
        ("github.com/org/repo", "main"),
        ("https://github.com/", "main"),
        ("https://github.com/org/repo.git", " "),
    ],
)
def test_runbook_base_url_refuses_what_is_not_a_git_url(repo_url: str, revision: str) -> None:
    with pytest.raises(ValueError):
        rules.runbook_base_url(repo_url, revision)
