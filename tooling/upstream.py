"""Upstream artefacts (CRDs, chart schemas, default values, chart sources): pinned, found, fetched.

The tests and the offline render read files nobody here wrote. The repository never holds them:
`upstream.lock.yaml` pins each one as facts (git repository, tag, commit, path; for a chart its Helm
repository and exact version), and this module

1. finds an artefact in the first root that has it (`find`, `chart_dir`): `$PLATE_UPSTREAM_DIR`
   (when set: a folder pre-filled with the same layout), then the git-ignored cache
   `.cache/upstream`; no other place is searched. When none has it, `MissingArtefact` says so in
   one line that names the fetch command; a cache entry fetched for other facts than the lock's
   is skipped as stale;
2. fills the cache on a machine with internet access (`fetch`, `python -m tooling.upstream
   fetch`): each git file at its locked commit, after `git ls-remote` shows the tag still points
   there; each chart from its Helm repository at its locked version, checked against the pulled
   `Chart.yaml` (and the archive's sha256 where the lock records one). Everything is verified
   before it is written, and each artefact is moved into place in one step.

`python -m tooling.upstream list` prints the lock; `... where` prints the root each artefact
resolves to. Helm runs in a child process (helm-python-sdk, a dev dependency), so importing this
module needs only PyYAML.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "upstream.lock.yaml"
CACHE = ROOT / ".cache" / "upstream"
ENV_VAR = "PLATE_UPSTREAM_DIR"
FETCH_COMMAND = "uv run python -m tooling.upstream fetch"
MANIFEST = ".fetched.json"  # in a fetched root: what was fetched, for which facts

GIT_BASE = "https://github.com"
GIT_TIMEOUT = 120  # seconds: ls-remote, init, cat-file
DOWNLOAD_TIMEOUT = 900  # seconds: one shallow git fetch or one helm pull

_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
_CHART = re.compile(r"[a-z0-9][a-z0-9_.-]*")


class MissingArtefact(Exception):
    """An artefact the lock declares is in none of the search roots (or not at that version)."""

    def __init__(
        self, artefact: str, version: str, looked_in: Sequence[str], hint: str | None = None
    ) -> None:
        super().__init__(artefact, version, tuple(looked_in), hint)
        self.artefact = artefact
        self.version = version
        self.looked_in = tuple(looked_in)
        self.hint = hint or f"fetch it with `{FETCH_COMMAND}`"

    def __str__(self) -> str:
        looked = ", ".join(self.looked_in) or "no root"
        return _one_line(
            f"upstream artefact {self.artefact} ({self.version}) not found; "
            f"looked in {looked}; {self.hint}"
        )


class LockError(ValueError):
    """The lock file is malformed."""


class FetchError(Exception):
    """An artefact could not be fetched or did not match its locked facts."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- The lock -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitFile:
    """One file taken from a git repository at a commit."""

    path: str  # local path inside a root (crds/<group>/<Kind>.yaml, chart-schemas/...)
    repo: str  # owner/name on GitHub
    tag: str | None
    commit: str
    source: str  # path in the repository

    @property
    def id(self) -> str:
        return self.path

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    @property
    def label(self) -> str:
        return f"{self.repo} {self.tag or self.commit}"

    def facts(self) -> dict[str, Any]:
        return _facts(self)


@dataclass(frozen=True)
class ChartArchive:
    """One Helm chart, pulled from its chart repository; it provides several local paths."""

    chart: str
    version: str
    helm_repo: str
    repo: str  # provenance: the git repository, tag, commit and path the chart is built from
    tag: str | None
    commit: str
    source: str
    files: tuple[str, ...]
    sha256: str | None = None  # of the published .tgz, when known

    @property
    def id(self) -> str:
        return self.chart

    @property
    def paths(self) -> tuple[str, ...]:
        return self.files

    @property
    def label(self) -> str:
        return f"chart {self.chart} {self.version}"

    def facts(self) -> dict[str, Any]:
        return _facts(self)


Artefact = GitFile | ChartArchive


def _facts(artefact: Artefact) -> dict[str, Any]:
    """The artefact's facts in JSON form (what a fetched root's manifest records)."""
    raw = {k: v for k, v in dataclasses.asdict(artefact).items() if v is not None}
    return json.loads(json.dumps(raw))


@dataclass(frozen=True)
class Lock:
    artefacts: tuple[Artefact, ...]
    source: str = LOCK.name

    @property
    def paths(self) -> list[str]:
        return [p for a in self.artefacts for p in a.paths]

    def owner(self, relpath: str) -> Artefact | None:
        """The artefact that provides `relpath` (the path itself, or a file in a provided dir)."""
        for artefact in self.artefacts:
            if any(relpath == p or relpath.startswith(p + "/") for p in artefact.paths):
                return artefact
        return None

    def chart(self, name: str) -> ChartArchive | None:
        for artefact in self.artefacts:
            if isinstance(artefact, ChartArchive) and artefact.chart == name:
                return artefact
        return None

    def select(self, only: Iterable[str] | None = None) -> list[Artefact]:
        """All artefacts, or those named in `only` (by id: local path or chart name; or by any
        local path they provide)."""
        if only is None:
            return list(self.artefacts)
        chosen: list[Artefact] = []
        for name in only:
            found = next(
                (a for a in self.artefacts if name == a.id or name in a.paths), None
            )
            if found is None:
                raise ValueError(f"{name!r} is not an artefact in {self.source}")
            if found not in chosen:
                chosen.append(found)
        return chosen


def _relpath(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise LockError(f"{where}: expected a relative path, got {value!r}")
    pure = PurePosixPath(value)
    if pure.is_absolute() or ".." in pure.parts or str(pure) != value or value == ".":
        raise LockError(f"{where}: {value!r} is not a clean relative path")
    return value


def _text(data: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise LockError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def _check_git_facts(repo: str, commit: str, where: str) -> None:
    if not _REPO.fullmatch(repo):
        raise LockError(f"{where}.repo: {repo!r} is not owner/name")
    if not _COMMIT.fullmatch(commit):
        raise LockError(f"{where}.commit: {commit!r} is not 40 lowercase hex digits")


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LockError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _chart_file_source(chart: str, relpath: str) -> str | None:
    """Where a chart's local path comes from inside the unpacked archive (`""` = all of it)."""
    if relpath == f"chart-sources/{chart}":
        return ""
    if relpath == f"chart-schemas/{chart}.values.schema.json":
        return "values.schema.json"
    prefix = f"charts/{chart}/"
    if relpath.startswith(prefix) and "/" not in relpath[len(prefix):]:
        return relpath[len(prefix):]
    return None


def parse_lock(data: object, source: str = LOCK.name) -> Lock:
    """Validate the lock's parsed YAML (all scalars strings) and return its artefacts."""
    top = _mapping(data, source)
    unknown = set(top) - {"git", "charts"}
    if unknown:
        raise LockError(f"{source}: unknown top-level keys {sorted(unknown)}")
    artefacts: list[Artefact] = []
    git = top.get("git") or []
    if not isinstance(git, list):
        raise LockError(f"{source}: git: expected a list")
    for i, raw in enumerate(git):
        where = f"{source}: git[{i}]"
        entry = _mapping(raw, where)
        repo, commit = _text(entry, "repo", where), _text(entry, "commit", where)
        tag = _text(entry, "tag", where, required=False)
        assert repo is not None and commit is not None
        _check_git_facts(repo, commit, where)
        files = _mapping(entry.get("files"), f"{where}.files")
        if not files:
            raise LockError(f"{where}.files: empty")
        for local, in_repo in files.items():
            artefacts.append(
                GitFile(
                    path=_relpath(local, f"{where}.files"),
                    repo=repo,
                    tag=tag,
                    commit=commit,
                    source=_relpath(in_repo, f"{where}.files.{local}"),
                )
            )
    charts = _mapping(top.get("charts") or {}, f"{source}: charts")
    for name, raw in charts.items():
        where = f"{source}: charts.{name}"
        if not _CHART.fullmatch(name):
            raise LockError(f"{where}: {name!r} is not a chart name")
        entry = _mapping(raw, where)
        provenance = _mapping(entry.get("git"), f"{where}.git")
        repo = _text(provenance, "repo", f"{where}.git")
        commit = _text(provenance, "commit", f"{where}.git")
        assert repo is not None and commit is not None
        _check_git_facts(repo, commit, f"{where}.git")
        sha256 = _text(entry, "sha256", where, required=False)
        if sha256 is not None and not _SHA256.fullmatch(sha256):
            raise LockError(f"{where}.sha256: {sha256!r} is not 64 lowercase hex digits")
        chart_files = entry.get("files")
        if not isinstance(chart_files, list) or not chart_files:
            raise LockError(f"{where}.files: expected a non-empty list")
        for path in chart_files:
            if _chart_file_source(name, _relpath(path, f"{where}.files")) is None:
                raise LockError(
                    f"{where}.files: {path!r} is not chart-sources/{name}, charts/{name}/<file> "
                    f"or chart-schemas/{name}.values.schema.json"
                )
        source_path = _text(provenance, "path", f"{where}.git")
        assert source_path is not None
        artefacts.append(
            ChartArchive(
                chart=name,
                version=str(_text(entry, "version", where)),
                helm_repo=str(_text(entry, "helm_repo", where)),
                repo=repo,
                tag=_text(provenance, "tag", f"{where}.git", required=False),
                commit=commit,
                source=source_path,
                files=tuple(chart_files),
                sha256=sha256,
            )
        )
    seen: dict[str, str] = {}
    for artefact in artefacts:
        for path in artefact.paths:
            clash = next(
                (p for p in seen if p == path or path.startswith(p + "/")
                 or p.startswith(path + "/")),
                None,
            )
            if clash is not None:
                raise LockError(f"{source}: {path} overlaps {clash} (of {seen[clash]})")
            seen[path] = artefact.id
    return Lock(tuple(artefacts), source)


class _LockLoader(yaml.BaseLoader):
    """Every scalar stays a string (a version `1.10` or an all-digit commit stays as written), and
    a repeated key is an error rather than silently dropping the first entry."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@functools.lru_cache(maxsize=8)
def _parse_lock_text(text: str, name: str) -> Lock:
    try:
        data = yaml.load(text, Loader=_LockLoader)
    except yaml.YAMLError as exc:
        raise LockError(f"{name}: not valid: {_one_line(str(exc))}") from None
    return parse_lock(data, name)


def load_lock(path: Path | None = None) -> Lock:
    """Read and validate a lock file (default: `upstream.lock.yaml`)."""
    path = Path(path or LOCK)
    return _parse_lock_text(path.read_text(encoding="utf-8"), path.name)


# --- Finding artefacts -------------------------------------------------------------------------


def search_roots() -> list[Path]:
    """Where artefacts are looked up, in order: $PLATE_UPSTREAM_DIR (if set), the cache."""
    roots: list[Path] = []
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]).expanduser())
    roots.append(CACHE)
    return roots


def _read_manifest(root: Path) -> dict[str, Any] | None:
    """A fetched root's record of what it holds; None for a pre-filled folder (trusted as is)."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    artefacts = data.get("artefacts") if isinstance(data, dict) else None
    return artefacts if isinstance(artefacts, dict) else {}


def _is_current(manifest: dict[str, Any] | None, artefact: Artefact) -> bool:
    if manifest is None:
        return True
    record = manifest.get(artefact.id)
    return isinstance(record, dict) and record.get("facts") == artefact.facts()


def _clean(relpath: str) -> str:
    pure = PurePosixPath(relpath)
    if not relpath or pure.is_absolute() or ".." in pure.parts or str(pure) == ".":
        raise ValueError(f"{relpath!r} is not a relative artefact path")
    return str(pure)


def find(relpath: str, *, lock: Lock | None = None) -> Path:
    """The first root's copy of `relpath` (a file or a directory), which the lock must declare
    (or contain: a file inside a declared chart source). Raises MissingArtefact if no root has it.
    """
    lock = lock or load_lock()
    rel = _clean(relpath)
    artefact = lock.owner(rel)
    if artefact is None:
        raise ValueError(f"{relpath!r} is not declared in {lock.source}: pin it there first")
    looked: list[str] = []
    for root in search_roots():
        candidate = root / rel
        if not (candidate.is_file() or candidate.is_dir()):
            looked.append(str(root))
        elif not _is_current(_read_manifest(root), artefact):
            looked.append(f"{root} (stale: fetched for other facts than the lock's)")
        else:
            return candidate
    raise MissingArtefact(rel, artefact.label, looked)


def _chart_version(chart_source: Path) -> str | None:
    try:
        meta = yaml.load(
            (chart_source / "Chart.yaml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader
        )
    except (OSError, yaml.YAMLError):
        return None
    version = meta.get("version") if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


def chart_dir(chart: str, version: str, *, lock: Lock | None = None) -> Path:
    """The unpacked source of `chart` at exactly `version` (compared as written, no 'v'
    stripping), from the first root whose `chart-sources/<chart>/Chart.yaml` says so."""
    lock = lock or load_lock()
    entry = lock.chart(chart)
    rel = f"chart-sources/{chart}"
    if entry is None or rel not in entry.files:
        raise ValueError(f"chart {chart!r} has no {rel} in {lock.source}: pin it there first")
    looked: list[str] = []
    for root in search_roots():
        found = _chart_version(root / rel)
        if found is None:
            looked.append(str(root))
        elif found != version:
            looked.append(f"{root} (has {found})")
        else:
            return root / rel
    hint = None
    if version != entry.version:
        hint = (
            f"{version} is not the locked version ({entry.version}): set charts.{chart}.version "
            f"(and its git facts) in {lock.source}, then run `{FETCH_COMMAND}`"
        )
    raise MissingArtefact(rel, f"chart {chart} {version}", looked, hint)


# --- Fetching ----------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def _run(
    args: Sequence[str], *, timeout: float, env: dict[str, str] | None = None, what: str
) -> bytes:
    """Run a command; any failure is a one-line FetchError naming `what` was being done."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        done = subprocess.run(
            list(args), capture_output=True, timeout=timeout, env=full_env, check=False
        )
    except FileNotFoundError:
        raise FetchError(f"{what}: {args[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"{what}: timed out after {timeout:g} s") from None
    if done.returncode != 0:
        detail = _last_line(done.stderr.decode(errors="replace"))
        raise FetchError(f"{what}: {detail.removeprefix('helm_python.errors.')}")
    return done.stdout


def _git_url(git_base: str, repo: str) -> str:
    return f"{git_base.rstrip('/')}/{repo}.git"


def _verify_tag(url: str, tag: str, commit: str, lock_name: str) -> None:
    """The tag (peeled, if annotated) must point at the locked commit."""
    ref = f"refs/tags/{tag}"
    out = _run(
        ["git", "ls-remote", url, ref, ref + "^{}"],
        timeout=GIT_TIMEOUT,
        what=f"git ls-remote {url} {ref}",
    ).decode()
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        refs[name.strip()] = sha.strip()
    target = refs.get(ref + "^{}") or refs.get(ref)
    if target is None:
        raise FetchError(f"{url}: tag {tag} not found (locked commit {commit})")
    if target != commit:
        raise FetchError(
            f"{url}: tag {tag} points at {target}, not the locked commit {commit}; "
            f"nothing fetched (check upstream, then fix {lock_name})"
        )


def _git_checkout_commit(url: str, commit: str, work: Path) -> None:
    """A shallow fetch of exactly `commit` into a fresh repository at `work`."""
    _run(
        ["git", "-c", "init.defaultBranch=fetch", "init", "-q", str(work)],
        timeout=GIT_TIMEOUT,
        what=f"git init {work}",
    )
    _run(
        ["git", "-C", str(work), "fetch", "-q", "--no-tags", "--depth", "1", url, commit],
        timeout=DOWNLOAD_TIMEOUT,
        what=f"git fetch {url} {commit}",
    )


def _git_blob(url: str, commit: str, path: str, work: Path) -> bytes:
    return _run(
        ["git", "-C", str(work), "cat-file", "blob", f"{commit}:{path}"],
        timeout=GIT_TIMEOUT,
        what=f"{url} at {commit}: {path}",
    )


_PULL_SCRIPT = """\
import json, pathlib, sys
import helm_python
a = json.loads(sys.argv[1])
helm_python.pull(a["chart"], repo_url=a["repo_url"], version=a["version"], destination=a["download"])
(archive,) = pathlib.Path(a["download"]).glob("*.tgz")
helm_python.expand(a["unpack"], str(archive))
print(archive)
"""  # noqa: E501


def _helm_pull(entry: ChartArchive, work: Path) -> tuple[Path, Path]:
    """Pull and unpack the published archive in a child process (so a hung download can be
    timed out), with Helm's cache and config kept inside `work`. Returns (archive, unpacked)."""
    download, unpack, home = work / "download", work / "unpack", work / "helm-home"
    for d in (download, unpack, home):
        d.mkdir(parents=True)
    args = {
        "chart": entry.chart,
        "repo_url": entry.helm_repo,
        "version": entry.version,
        "download": str(download),
        "unpack": str(unpack),
    }
    out = _run(
        [sys.executable, "-c", _PULL_SCRIPT, json.dumps(args)],
        timeout=DOWNLOAD_TIMEOUT,
        env={
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        },
        what=f"helm pull {entry.chart} {entry.version} from {entry.helm_repo}",
    )
    return Path(out.decode().strip()), unpack / entry.chart


def _place_file(dest: Path, relpath: str, data: bytes, tmp: Path) -> None:
    target = dest / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = tmp / f"file-{uuid.uuid4().hex}"
    staged.write_bytes(data)
    os.replace(staged, target)


def _place_dir(dest: Path, relpath: str, source: Path, tmp: Path) -> None:
    target = dest / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        os.replace(target, tmp / f"old-{uuid.uuid4().hex}")  # removed with tmp
    os.replace(source, target)


class _Manifest:
    """`.fetched.json` in the destination: the facts each artefact was fetched for, and hashes."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / MANIFEST
        self.records: dict[str, Any] = dict(_read_manifest(dest) or {})

    def record(self, artefact: Artefact, **extra: Any) -> None:
        self.records[artefact.id] = {"facts": artefact.facts(), **extra}
        staged = self.path.with_name(f"{MANIFEST}.{uuid.uuid4().hex}")
        staged.write_text(
            json.dumps({"artefacts": self.records}, indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        os.replace(staged, self.path)

    def up_to_date(self, dest: Path, artefact: Artefact) -> bool:
        """Present, fetched for the lock's facts, and unchanged since."""
        record = self.records.get(artefact.id)
        if not isinstance(record, dict) or record.get("facts") != artefact.facts():
            return False
        hashes = record.get("files", {})
        for path in artefact.paths:
            target = dest / path
            if path in hashes:
                if not target.is_file() or _sha256(target.read_bytes()) != hashes[path]:
                    return False
            elif _chart_version(target) != getattr(artefact, "version", None):
                return False
        return True


def _fetch_chart(entry: ChartArchive, dest: Path, tmp: Path, manifest: _Manifest) -> None:
    archive, unpacked = _helm_pull(entry, tmp / f"chart-{entry.chart}")
    archive_sha = _sha256(archive.read_bytes())
    what = f"{entry.label} from {entry.helm_repo}"
    if entry.sha256 and archive_sha != entry.sha256:
        raise FetchError(f"{what}: archive sha256 {archive_sha}, locked {entry.sha256}")
    found = _chart_version(unpacked)
    if found != entry.version:
        raise FetchError(
            f"{what}: the pulled Chart.yaml carries version {found}, not the locked "
            f"{entry.version}; nothing written"
        )
    plan: list[tuple[str, Path]] = []
    for path in entry.files:
        inner = _chart_file_source(entry.chart, path)
        source = unpacked / inner if inner else unpacked
        if not (source.is_file() or (not inner and source.is_dir())):
            raise FetchError(f"{what}: the archive has no {inner}, which the lock lists as {path}")
        plan.append((path, source))
    hashes: dict[str, str] = {}
    for path, source in plan:  # files first: they are read out of the dir moved below
        if source.is_file():
            data = source.read_bytes()
            _place_file(dest, path, data, tmp)
            hashes[path] = _sha256(data)
    for path, source in plan:
        if source.is_dir():
            _place_dir(dest, path, source, tmp)
    manifest.record(entry, files=hashes, archive_sha256=archive_sha)


def fetch(
    dest: Path | None = None,
    *,
    git_base: str = GIT_BASE,
    only: set[str] | None = None,
    lock: Lock | None = None,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """Fetch the lock's artefacts (or those in `only`) into `dest` (default: the cache), each at
    its local path in the lock. Skips what is present and verified; returns the ids fetched.
    Every locked tag is checked before anything is written; a mismatch raises FetchError."""
    dest = Path(dest or CACHE)
    lock = lock or load_lock()
    say = log or (lambda _msg: None)
    manifest = _Manifest(dest)
    todo = [a for a in lock.select(only) if not manifest.up_to_date(dest, a)]
    for artefact in lock.select(only):
        if artefact not in todo:
            say(f"up to date  {artefact.id}")
    git_files = [a for a in todo if isinstance(a, GitFile)]
    charts = [a for a in todo if isinstance(a, ChartArchive)]

    by_commit: dict[tuple[str, str], list[GitFile]] = {}
    for f in git_files:
        by_commit.setdefault((f.repo, f.commit), []).append(f)
    for tag_facts in sorted({(f.repo, f.tag, f.commit) for f in git_files if f.tag}):
        repo, tag, commit = tag_facts
        assert tag is not None
        _verify_tag(_git_url(git_base, repo), tag, commit, lock.source)

    fetched: list[str] = []
    if not todo:
        return fetched
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest) as tmp_name:
        tmp = Path(tmp_name)
        for n, ((repo, commit), files) in enumerate(by_commit.items()):
            url = _git_url(git_base, repo)
            work = tmp / f"git-{n}"
            _git_checkout_commit(url, commit, work)
            blobs = {f.path: _git_blob(url, commit, f.source, work) for f in files}
            for f in files:
                _place_file(dest, f.path, blobs[f.path], tmp)
                manifest.record(f, files={f.path: _sha256(blobs[f.path])})
                fetched.append(f.id)
                say(f"fetched     {f.id}  ({f.label})")
        for entry in charts:
            _fetch_chart(entry, dest, tmp, manifest)
            fetched.append(entry.id)
            say(f"fetched     {entry.id}  ({entry.label}, {len(entry.files)} paths)")
    return fetched


def missing(lock: Lock | None = None) -> set[str]:
    """Ids of the artefacts that no search root provides whole (what a fetch must bring)."""
    lock = lock or load_lock()
    out = set()
    for artefact in lock.artefacts:
        try:
            for relpath in artefact.paths:
                find(relpath, lock=lock)
        except MissingArtefact:
            out.add(artefact.id)
    return out


# --- Command line ------------------------------------------------------------------------------


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _list(lock: Lock) -> str:
    rows = [("artefact", "version", "source (repo@tag:path)", "commit", "helm repository")]
    for a in lock.artefacts:
        version = a.version if isinstance(a, ChartArchive) else ""
        helm = a.helm_repo if isinstance(a, ChartArchive) else ""
        source = f"{a.repo}@{a.tag or '(no tag)'}:{a.source}"
        rows.append((a.id, version, source, a.commit[:12], helm))
    return _table(rows)


def _where(lock: Lock) -> str:
    rows = [("path", "found in")]
    for path in lock.paths:
        try:
            found = find(path, lock=lock)
            rows.append((path, str(found.parents[len(PurePosixPath(path).parts) - 1])))
        except MissingArtefact:
            rows.append((path, "MISSING"))
    return _table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.upstream",
        description="Pinned upstream artefacts: fetch them into the cache, list or locate them.",
    )
    parser.add_argument("--lock", type=Path, default=None, help=f"lock file (default {LOCK})")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = commands.add_parser("fetch", help="fetch missing or changed artefacts")
    fetch_cmd.add_argument("--dest", type=Path, default=None, help=f"default {CACHE}")
    fetch_cmd.add_argument(
        "--only", action="append", metavar="ARTEFACT", help="artefact id or path (repeatable)"
    )
    fetch_cmd.add_argument("--git-base", default=GIT_BASE, help=f"default {GIT_BASE}")
    fetch_cmd.add_argument(
        "--missing",
        action="store_true",
        help="only what no root ($PLATE_UPSTREAM_DIR, the cache) has",
    )
    commands.add_parser("list", help="print the lock as a table")
    commands.add_parser("where", help="print which root each artefact resolves to")
    args = parser.parse_args(argv)
    try:
        lock = load_lock(args.lock)
        if args.command == "fetch":
            only = set(args.only) if args.only else None
            if args.missing:
                only = missing(lock) & only if only else missing(lock)
                if not only:
                    print("nothing missing: every artefact resolves")
                    return 0
            fetched = fetch(
                args.dest, git_base=args.git_base, only=only, lock=lock, log=print
            )
            print(f"{len(fetched)} fetched into {args.dest or CACHE}")
        elif args.command == "list":
            print(_list(lock))
        else:
            print(_where(lock))
    except (OSError, ValueError, FetchError, MissingArtefact) as exc:
        print(f"upstream: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
