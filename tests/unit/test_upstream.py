"""Pinned upstream artefacts: the lock, the lookup, the fetch, and the missing-artefact report.

Verifies:
- the lock: every entry resolves (non-empty) on this machine; against the pre-filled copy the
  artefacts come from ($PLATE_UPSTREAM_DIR, with its SOURCES tables; CI sets it in .ci/run, and
  without it these checks fail, never skip): every file under its {crds,chart-schemas} is pinned
  and every pinned path exists there; the lock's facts (repository, path, tag, commit; chart
  version and Helm repository) are those of the SOURCES tables; commits are 40 hex digits; chart
  versions and Helm repositories equal `components/versions.py`; malformed locks are rejected;
- lookup order: $PLATE_UPSTREAM_DIR, then the cache, and nowhere else (a stale cache entry is
  skipped); no copy anywhere raises `MissingArtefact`, one line naming the fetch command;
  undeclared paths are a programming error; `chart_dir` returns exactly the asked version and
  skips roots holding another;
- fetch, for real, against local stand-ins: a git repository on disk (file://), annotated and
  lightweight tags, the file taken at the locked commit (not HEAD), skipped when up to date and
  re-fetched when changed, nothing written when the tag points elsewhere; a Helm chart repository
  served on 127.0.0.1 (a chart built, packaged and indexed with helm-python-sdk), laid out as
  chart-sources/charts/chart-schemas, with version and digest checked; the CLI's exit code 2 and
  one-line error;
- the conftest hook: a test failing with `MissingArtefact` reports that one line, no traceback.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import helm_python
import pytest
import yaml

from components import versions
from tooling import upstream
from tooling.upstream import ChartArchive, FetchError, GitFile, LockError, MissingArtefact

LOCK = upstream.load_lock()
# The tables of a pre-filled root that record where each of its files came from.
SOURCES_TABLES = ("SOURCES.md", "chart-sources/SOURCES.md", "README.md")


def reference_copy() -> Path | None:
    """The pre-filled root the artefacts come from: $PLATE_UPSTREAM_DIR, first of the search
    roots, with the SOURCES tables the lock's facts were taken from; None without the variable
    (a user's clone: the artefacts then come from the fetched cache, see `cache_facts`). A
    variable naming a folder without the tables fails the calling test, never skips it."""
    if not os.environ.get(upstream.ENV_VAR):
        return None
    root = upstream.search_roots()[0]
    absent = [name for name in SOURCES_TABLES if not (root / name).is_file()]
    if absent:
        pytest.fail(
            f"${upstream.ENV_VAR}={root} has no {', '.join(absent)}: it must be a pre-filled copy "
            "of the upstream artefacts with its SOURCES tables",
            pytrace=False,
        )
    return root


def cache_facts() -> dict[str, object]:
    """Without a pre-filled copy: the facts the fetch verified against the upstream remotes for
    each artefact (tag -> commit, Helm repository -> version), from the cache's manifest. A
    cache that was never filled fails the calling test, never skips it."""
    manifest = upstream.CACHE / upstream.MANIFEST
    if not manifest.is_file():
        pytest.fail(
            f"no ${upstream.ENV_VAR} and no fetched cache ({manifest}): run "
            "`uv run python -m tooling.upstream fetch --missing`",
            pytrace=False,
        )
    records = json.loads(manifest.read_text())["artefacts"]
    return {key: record.get("facts") for key, record in records.items()}


def write_lock(directory: Path, text: str) -> upstream.Lock:
    path = directory / "upstream.lock.yaml"
    path.write_text(textwrap.dedent(text))
    return upstream.load_lock(path)


def table_rows(text: str) -> list[list[str]]:
    """Cells of every markdown table row (header and separator rows included; harmless)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]


# --- The real lock ------------------------------------------------------------------------------


def test_lock_commits_are_full_hashes_and_ids_are_unique():
    commits = [a.commit for a in LOCK.artefacts]
    assert commits and all(re.fullmatch(r"[0-9a-f]{40}", c) for c in commits)
    ids = [a.id for a in LOCK.artefacts]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("relpath", LOCK.paths)
def test_every_locked_artefact_resolves_and_is_not_empty(relpath):
    found = upstream.find(relpath)
    assert found.name == Path(relpath).name
    if found.is_dir():
        assert (found / "Chart.yaml").is_file() and (found / "templates").is_dir()
    else:
        assert found.stat().st_size > 0


def test_the_reference_copy_is_pinned_completely():
    reference = reference_copy()
    if reference is None:  # a fetched cache holds exactly what the lock names
        assert set(cache_facts()) == {a.id for a in LOCK.artefacts}
        return
    used = {
        str(p.relative_to(reference))
        for top in ("crds", "chart-schemas")
        for p in (reference / top).rglob("*")
        if p.is_file()
    }
    assert used, f"no CRDs or chart schemas found under {reference}"
    assert sorted(used - set(LOCK.paths)) == []
    assert sorted(p for p in LOCK.paths if not (reference / p).exists()) == []
    charts = {a.chart for a in LOCK.artefacts if isinstance(a, ChartArchive)}
    assert charts == {p.name for p in (reference / "chart-sources").iterdir() if p.is_dir()}


def test_lock_facts_are_those_of_the_sources_tables():
    reference = reference_copy()
    if reference is None:  # the fetch checked each fact against the remote; the cache says which
        assert cache_facts() == {a.id: a.facts() for a in LOCK.artefacts}
        return
    files = table_rows((reference / "SOURCES.md").read_text())
    charts = table_rows((reference / "chart-sources" / "SOURCES.md").read_text())
    releases = table_rows((reference / "README.md").read_text())
    for a in LOCK.artefacts:
        if isinstance(a, GitFile):
            (row,) = [r for r in files if r[0].startswith(f"`{a.path}`")]
            assert row[1:5] == [a.repo, f"`{a.source}`", f"`{a.tag}`", f"`{a.commit}`"], a.id
            continue
        (row,) = [r for r in charts if r[0] == a.chart]
        assert row[1] == a.version and row[2].startswith(a.repo), a.id
        assert row[3].startswith(f"`{a.source}`") or (a.source, row[3]) == (".", "repository root")
        assert row[4] == (f"`{a.tag}`" if a.tag else "default branch"), a.id
        assert row[5].startswith(f"`{a.commit}`"), a.id
        (release,) = [r for r in releases if r[0] == a.chart]
        assert release[1] == a.helm_repo and release[2].split()[0] == a.version, a.id
        for path in a.files:  # the reference's git copies of chart files name the same commit
            for r in files:
                if r[0].startswith(f"`{path}`"):
                    assert (r[1], r[4]) == (a.repo, f"`{a.commit}`"), path


def test_chart_pins_equal_the_lock():
    assert versions.CHARTS
    for name, pin in versions.CHARTS.items():
        entry = LOCK.chart(name)
        assert entry is not None, f"{name} is deployed but not in the lock"
        assert (entry.version, entry.helm_repo) == (pin.version, pin.repo), name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("443415b5527ac55366e0760c93ef0e1abd0cf273", "443415b"), "40 lowercase hex"),
        (("argoproj/argo-cd", "argo-cd"), "owner/name"),
        (("crds/x/A.yaml: a.yaml", "../x/A.yaml: a.yaml"), "clean relative path"),
        (("crds/x/B.yaml: b.yaml", "crds/x/A.yaml: b.yaml"), "duplicate key 'crds/x/A.yaml'"),
        (("crds/x/B.yaml: b.yaml", "chart-sources/demo/B.yaml: b.yaml"), "overlaps"),
        (("- chart-sources/demo", "- templates/demo"), "not chart-sources/demo"),
    ],
)
def test_malformed_locks_are_rejected(tmp_path, change, message):
    text = """\
        git:
          - repo: argoproj/argo-cd
            tag: v3.4.4
            commit: 443415b5527ac55366e0760c93ef0e1abd0cf273
            files:
              crds/x/A.yaml: a.yaml
              crds/x/B.yaml: b.yaml
        charts:
          demo:
            version: 1.0.0
            helm_repo: https://example.invalid/charts
            git: {repo: example/demo, commit: 443415b5527ac55366e0760c93ef0e1abd0cf273, path: .}
            files:
              - chart-sources/demo
        """
    assert write_lock(tmp_path, text).paths  # the unchanged text is valid
    old, new = change
    with pytest.raises(LockError, match=message):
        write_lock(tmp_path, text.replace(old, new))


# --- Lookup -------------------------------------------------------------------------------------


@dataclass
class Roots:
    env: Path
    cache: Path


@pytest.fixture
def roots(tmp_path, monkeypatch) -> Roots:
    """Two empty roots standing in for $PLATE_UPSTREAM_DIR and the cache (the environment
    variable is unset until a test sets it)."""
    r = Roots(tmp_path / "env", tmp_path / "cache")
    for d in (r.env, r.cache):
        d.mkdir()
    monkeypatch.setattr(upstream, "CACHE", r.cache)
    monkeypatch.delenv(upstream.ENV_VAR, raising=False)
    return r


CRD = "crds/argoproj.io/AppProject.yaml"


def put(root: Path, relpath: str, text: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_find_prefers_plate_upstream_dir(roots, monkeypatch):
    put(roots.cache, CRD, "cache copy")
    mine = put(roots.env, CRD, "my copy")
    monkeypatch.setenv(upstream.ENV_VAR, str(roots.env))
    assert upstream.search_roots() == [roots.env, roots.cache]
    assert upstream.find(CRD) == mine


def test_find_falls_back_to_the_cache(roots, monkeypatch):
    monkeypatch.setenv(upstream.ENV_VAR, str(roots.env))  # set, but holds nothing
    put(roots.cache, CRD, "cache copy")
    assert upstream.find(CRD) == roots.cache / CRD
    monkeypatch.delenv(upstream.ENV_VAR)
    assert upstream.search_roots() == [roots.cache]
    assert upstream.find(CRD) == roots.cache / CRD


def test_find_with_no_copy_raises_one_line_naming_the_fetch_command(roots, monkeypatch):
    monkeypatch.setattr(upstream, "CACHE", roots.cache / "absent")
    with pytest.raises(MissingArtefact) as caught:
        upstream.find(CRD)
    message = str(caught.value)
    assert "\n" not in message
    assert upstream.FETCH_COMMAND in message
    assert CRD in message and "argoproj/argo-cd v3.4.4" in message
    # the cache was the only place looked in: no folder beside the clone (on CI and here, one
    # holds every artefact) or anywhere else stands in for $PLATE_UPSTREAM_DIR
    assert caught.value.looked_in == (str(roots.cache / "absent"),)


def test_find_rejects_paths_the_lock_does_not_declare(roots):
    put(roots.cache, "crds/example.io/Unpinned.yaml", "x")
    with pytest.raises(ValueError, match="not declared"):
        upstream.find("crds/example.io/Unpinned.yaml")
    with pytest.raises(ValueError):
        upstream.find("../main/upstream.lock.yaml")


DEMO_LOCK = """\
    charts:
      demo:
        version: {version}
        helm_repo: {url}
        {sha256}
        git: {{repo: example/demo, tag: demo-1.2.3, commit: {commit}, path: charts/demo}}
        files:
          - chart-sources/demo
          - charts/demo/Chart.yaml
          - charts/demo/values.yaml
          - charts/demo/values.schema.json
          - chart-schemas/demo.values.schema.json
    """


def demo_lock(
    directory: Path, version: str, url: str = "http://127.0.0.1:9/none", sha256: str = ""
) -> upstream.Lock:
    return write_lock(
        directory,
        DEMO_LOCK.format(
            version=version, url=url, commit="a" * 40, sha256=f"sha256: {sha256}" if sha256 else ""
        ),
    )


def test_chart_dir_returns_exactly_the_asked_version(roots, tmp_path, monkeypatch):
    lock = demo_lock(tmp_path, "2.0.0")
    put(roots.env, "chart-sources/demo/Chart.yaml", "name: demo\nversion: 1.0.0\n")
    put(roots.cache, "chart-sources/demo/Chart.yaml", "name: demo\nversion: 2.0.0\n")
    monkeypatch.setenv(upstream.ENV_VAR, str(roots.env))
    assert upstream.chart_dir("demo", "2.0.0", lock=lock) == roots.cache / "chart-sources/demo"
    assert upstream.chart_dir("demo", "1.0.0", lock=lock) == roots.env / "chart-sources/demo"
    with pytest.raises(MissingArtefact):  # compared as written: no 'v' stripping
        upstream.chart_dir("demo", "v2.0.0", lock=lock)
    with pytest.raises(ValueError, match="pin it"):
        upstream.chart_dir("other", "2.0.0", lock=lock)


def test_chart_dir_missing_says_fetch_or_add_to_the_lock(roots, tmp_path):
    lock = demo_lock(tmp_path, "2.0.0")
    put(roots.cache, "chart-sources/demo/Chart.yaml", "name: demo\nversion: 1.0.0\n")
    with pytest.raises(MissingArtefact) as locked:
        upstream.chart_dir("demo", "2.0.0", lock=lock)
    assert "(has 1.0.0)" in str(locked.value) and upstream.FETCH_COMMAND in str(locked.value)
    assert "not the locked version" not in str(locked.value)
    with pytest.raises(MissingArtefact) as unlocked:
        upstream.chart_dir("demo", "3.0.0", lock=lock)
    message = str(unlocked.value)
    assert "\n" not in message and "chart demo 3.0.0" in message
    assert "not the locked version (2.0.0)" in message and "upstream.lock.yaml" in message


# --- Fetch from git -----------------------------------------------------------------------------


@dataclass
class GitRemote:
    base: str  # what fetch() gets as git_base
    tagged: str  # commit the tags point at
    head: str  # a later commit
    content: bytes  # the file at `tagged`


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def git_remote(tmp_path_factory) -> GitRemote:
    """example/crds on a local 'GitHub': tags v1.0.0 (annotated) and light-1.0.0 (lightweight) on
    the first commit, then a second commit that changes the file."""
    base = tmp_path_factory.mktemp("github")
    repo = base / "example" / "crds.git"
    repo.mkdir(parents=True)
    git(repo, "-c", "init.defaultBranch=main", "init", "-q")
    content = b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n# v1\n"
    put(repo, "deploy/crds/thing.yaml", content.decode())
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "-a", "v1.0.0", "-m", "release")
    git(repo, "tag", "light-1.0.0")
    tagged = git(repo, "rev-parse", "HEAD")
    put(repo, "deploy/crds/thing.yaml", "changed after the release\n")
    git(repo, "commit", "-qam", "v2")
    return GitRemote(f"file://{base}", tagged, git(repo, "rev-parse", "HEAD"), content)


THING = "crds/example.io/Thing.yaml"


def git_lock(directory: Path, tag: str, commit: str) -> upstream.Lock:
    # the second source does not exist: `only` must keep fetch away from it
    return write_lock(
        directory,
        f"""\
        git:
          - repo: example/crds
            tag: {tag}
            commit: {commit}
            files:
              {THING}: deploy/crds/thing.yaml
          - repo: example/absent
            tag: v9
            commit: {"0" * 40}
            files:
              crds/example.io/Other.yaml: other.yaml
        """,
    )


@pytest.mark.parametrize("tag", ["v1.0.0", "light-1.0.0"])
def test_fetch_takes_the_file_at_the_locked_commit(git_remote, tmp_path, tag):
    lock = git_lock(tmp_path, tag, git_remote.tagged)
    dest = tmp_path / "cache"
    fetched = upstream.fetch(dest, git_base=git_remote.base, only={THING}, lock=lock)
    assert fetched == [THING]
    assert (dest / THING).read_bytes() == git_remote.content
    assert not (dest / "crds/example.io/Other.yaml").exists()
    assert [p.name for p in dest.iterdir() if p.name.startswith(".fetch-")] == []
    # present and verified: skipped; changed locally: fetched again
    assert upstream.fetch(dest, git_base=git_remote.base, only={THING}, lock=lock) == []
    (dest / THING).write_text("edited by hand\n")
    assert upstream.fetch(dest, git_base=git_remote.base, only={THING}, lock=lock) == [THING]
    assert (dest / THING).read_bytes() == git_remote.content


def test_a_cache_fetched_for_other_facts_is_stale(git_remote, tmp_path, roots):
    lock = git_lock(tmp_path, "v1.0.0", git_remote.tagged)
    upstream.fetch(roots.cache, git_base=git_remote.base, only={THING}, lock=lock)
    assert upstream.find(THING, lock=lock) == roots.cache / THING
    moved = git_lock(tmp_path, "v2.0.0", git_remote.head)  # the lock moved on, the cache did not
    with pytest.raises(MissingArtefact, match="stale"):
        upstream.find(THING, lock=moved)


@pytest.mark.parametrize(
    ("tag", "message"),
    [("v1.0.0", "points at {tagged}, not the locked commit {head}"), ("v7.7.7", "not found")],
)
def test_fetch_writes_nothing_when_the_tag_does_not_point_at_the_commit(
    git_remote, tmp_path, tag, message
):
    lock = git_lock(tmp_path, tag, git_remote.head)
    dest = tmp_path / "cache"
    expected = message.format(tagged=git_remote.tagged, head=git_remote.head)
    with pytest.raises(FetchError, match=re.escape(expected)) as caught:
        upstream.fetch(dest, git_base=git_remote.base, only={THING}, lock=lock)
    assert "\n" not in str(caught.value)
    assert not dest.exists()


def test_cli_fetch_exits_2_with_one_line(git_remote, tmp_path, capsys):
    git_lock(tmp_path, "v1.0.0", git_remote.head)
    args = ["--lock", str(tmp_path / "upstream.lock.yaml"), "fetch", "--dest", str(tmp_path / "c"),
            "--git-base", git_remote.base, "--only", THING]
    assert upstream.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("upstream: error: ") and err.count("\n") == 1
    git_lock(tmp_path, "v1.0.0", git_remote.tagged)
    assert upstream.main(args) == 0
    assert (tmp_path / "c" / THING).read_bytes() == git_remote.content
    assert upstream.main(["--lock", str(tmp_path / "upstream.lock.yaml"), "list"]) == 0
    assert "example/crds@v1.0.0:deploy/crds/thing.yaml" in capsys.readouterr().out


# --- Fetch from a Helm chart repository ---------------------------------------------------------


SCHEMA = '{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}\n'


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class ChartRepo:
    url: str  # index lists demo 1.2.3
    liar_url: str  # index claims demo 1.2.4, serves the 1.2.3 archive
    source: Path  # the chart as built
    sha256: str  # of the 1.2.3 archive


@pytest.fixture(scope="module")
def chart_repo(tmp_path_factory) -> Iterator[ChartRepo]:
    base = tmp_path_factory.mktemp("helm")
    (base / "src").mkdir()
    helm_python.Chart.create("demo", base / "src")
    source = base / "src" / "demo"
    (source / "values.schema.json").write_text(SCHEMA)
    archives = {}
    for name in ("good", "liar"):
        (base / name).mkdir()
        archives[name] = Path(helm_python.package(source, destination=base / name, version="1.2.3"))
        helm_python.repo_index_generate(base / name)
    index = yaml.safe_load((base / "liar" / "index.yaml").read_text())
    index["entries"]["demo"][0]["version"] = "1.2.4"
    (base / "liar" / "index.yaml").write_text(yaml.safe_dump(index))

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(base))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield ChartRepo(
            f"{url}/good", f"{url}/liar", source,
            hashlib.sha256(archives["good"].read_bytes()).hexdigest(),
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_fetch_lays_out_a_chart_from_its_repository(chart_repo, tmp_path, roots):
    lock = demo_lock(tmp_path, "1.2.3", chart_repo.url, sha256=chart_repo.sha256)
    assert upstream.fetch(roots.cache, lock=lock) == ["demo"]
    src = upstream.chart_dir("demo", "1.2.3", lock=lock)
    assert src == roots.cache / "chart-sources/demo"
    assert (src / "templates" / "deployment.yaml").is_file()
    chart_yaml = yaml.safe_load(upstream.find("charts/demo/Chart.yaml", lock=lock).read_text())
    assert (chart_yaml["name"], chart_yaml["version"]) == ("demo", "1.2.3")
    values = upstream.find("charts/demo/values.yaml", lock=lock).read_text()
    assert values == (chart_repo.source / "values.yaml").read_text()
    for schema in ("charts/demo/values.schema.json", "chart-schemas/demo.values.schema.json"):
        assert upstream.find(schema, lock=lock).read_text() == SCHEMA
    assert upstream.fetch(roots.cache, lock=lock) == []  # present and verified


@pytest.mark.parametrize(
    ("which", "version", "sha256", "files", "message"),
    [
        ("url", "9.9.9", "", None, 'version "9.9.9" not found'),
        ("liar_url", "1.2.4", "", None, "carries version 1.2.3, not the locked 1.2.4"),
        ("url", "1.2.3", "0" * 64, None, "archive sha256"),
        ("url", "1.2.3", "", "charts/demo/README.md", "the archive has no README.md"),
    ],
    ids=["version-not-in-repository", "chart-yaml-disagrees", "digest", "file-not-in-archive"],
)
def test_fetch_writes_no_chart_that_does_not_match_the_lock(
    chart_repo, tmp_path, which, version, sha256, files, message
):
    lock = demo_lock(tmp_path, version, getattr(chart_repo, which), sha256=sha256)
    if files:
        text = (tmp_path / "upstream.lock.yaml").read_text()
        lock = write_lock(tmp_path, text + f"      - {files}\n")
    dest = tmp_path / "cache"
    with pytest.raises(FetchError, match=re.escape(message)) as caught:
        upstream.fetch(dest, lock=lock)
    assert "\n" not in str(caught.value)
    assert [p for p in dest.rglob("*")] == []


# --- The conftest hook --------------------------------------------------------------------------


def test_missing_artefact_fails_as_one_line_without_traceback(tmp_path):
    (tmp_path / "test_needs_data.py").write_text(
        textwrap.dedent(
            """\
            import pytest
            from tooling.upstream import MissingArtefact

            @pytest.fixture
            def crd():
                raise MissingArtefact("crds/example.io/Setup.yaml", "example/x v2", ["/nowhere"])

            def test_in_call():
                raise MissingArtefact("crds/example.io/Call.yaml", "example/x v1", ["/nowhere"])

            def test_in_setup(crd):
                pass
            """
        )
    )
    lines = [
        str(MissingArtefact("crds/example.io/Call.yaml", "example/x v1", ["/nowhere"])),
        str(MissingArtefact("crds/example.io/Setup.yaml", "example/x v2", ["/nowhere"])),
    ]

    def run(*plugin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "--tb=native", "-p", "no:cacheprovider",
             *plugin, "--rootdir", str(tmp_path), str(tmp_path / "test_needs_data.py")],
            cwd=upstream.ROOT, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(upstream.ROOT),
                 "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        )

    with_hook = run("-p", "tests.conftest")
    assert with_hook.returncode == 1, with_hook.stdout + with_hook.stderr
    assert "1 failed, 1 error" in with_hook.stdout
    assert all(f"\n{line}\n" in with_hook.stdout for line in lines), with_hook.stdout
    assert "Traceback" not in with_hook.stdout and "skipped" not in with_hook.stdout
    without_hook = run()  # the control: pytest's own report has the traceback
    assert "Traceback" in without_hook.stdout and "1 failed, 1 error" in without_hook.stdout
