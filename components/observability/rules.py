"""What every alert of the platform shares: the severities, the rule's shape and where its runbook
lives. Each tool's alerts are in its package (`components/tools/<tool>/alerts.py`); the rule groups
are assembled in `components/observability/alerts.py`.

Every alert has the label `severity` (`critical`: something users or deploys depend on is down
now; `warning`: needs a person within the working day) and the annotations `summary`,
`description` (templated with the alert's labels) and `runbook_url`, the monitoring-mixin
convention: a link to `docs/runbooks/<AlertName>.md` in the GitOps repository at the stack's
revision (`runbook_base_url`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

SEVERITIES = ("critical", "warning")
BACKUP_MAX_AGE_HOURS = 36
"""No successful backup of a schedule, or OpenBao snapshot, for this many hours: a daily
schedule missed more than one run."""
RUNBOOK_DIR = "docs/runbooks"
"""Where the runbooks live in the GitOps repository: one `<AlertName>.md` per alert."""


def runbook_base_url(repo_url: str, revision: str) -> str:
    """The web URL of the runbooks folder (`docs/runbooks`) of the GitOps repository `repo_url`
    (`gitops.repo_url`: `https://host/org/repo(.git)` or `git@host:org/repo(.git)`) at
    `revision` (`gitops.target_revision`: a branch, tag or commit).

    The host and repository path are kept, a trailing `.git` or `/` and any `user@` / `user:token@`
    are dropped (no credential ends up in an alert). A host with a `gitlab` label (gitlab.com,
    gitlab.example.com) gets GitLab's form `https://<host>/<group>/<repo>/-/blob/<revision>/...`
    (subgroups kept); every other host - github.com, GitHub Enterprise, and any host this does
    not know - gets GitHub's form `https://<host>/<org>/<repo>/blob/<revision>/docs/runbooks`,
    which is only a guess for other forges (Gitea and Bitbucket use `/src/...`). The revision is
    percent-encoded except for `/` (branch names such as `release/1.4`).
    """
    url = repo_url.strip()
    if url.startswith("https://"):
        host, _, path = url.removeprefix("https://").partition("/")
        host = host.rpartition("@")[2]
    elif url.startswith("git@"):
        host, _, path = url.removeprefix("git@").partition(":")
    else:
        raise ValueError(
            f"{repo_url!r} is not a git URL (https://host/org/repo.git or git@host:org/repo)"
        )
    path = path.strip("/").removesuffix(".git").strip("/")
    if not host or not path or not revision.strip():
        raise ValueError(f"cannot make a runbook URL from {repo_url!r} at revision {revision!r}")
    blob = "-/blob" if "gitlab" in host.lower().split(".") else "blob"
    return f"https://{host}/{path}/{blob}/{quote(revision.strip(), safe='/')}/{RUNBOOK_DIR}"


DEFAULT_RUNBOOK_BASE = runbook_base_url("https://github.com/plate-dev/plate-platform.git", "main")
"""The runbooks of this repository's `main` branch; a stack passes its own
`runbook_base_url(gitops.repo_url, gitops.target_revision)`."""


def alert(
    name: str,
    expr: str,
    for_: str,
    severity: str,
    summary: str,
    description: str,
) -> dict[str, Any]:
    """One alerting rule; `platform_rule_groups` adds its `runbook_url` annotation."""
    if severity not in SEVERITIES:
        raise ValueError(f"{name}: severity {severity!r} is not one of {SEVERITIES}")
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
        },
    }
