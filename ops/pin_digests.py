"""Records the digest of every in-house app's production image in its values file, for the
release commit.

    HARBOR_USERNAME=... HARBOR_PASSWORD=... python -m ops.pin_digests --stack prod
        [--harbor-url https://harbor.plate.dev] [--ca-bundle FILE]

For each chart of `components.gitops.apps.IN_HOUSE_APPS`, the image tag the stack's environment
runs (`image.tag` of values.yaml, overridden by values-<env>.yaml) is resolved to its digest in
the stack's Harbor, and `image.digest` of `helm/applications/<app>/values-<env>.yaml` is set to
it, with a comment naming the tag it was resolved from; nothing else in the file changes. The
charts then run `<registry>/<repository>@<digest>` (helm/plate-common `plate-common.image`), so a
push that replaces the tag (the release tags are also immutable in Harbor:
`dev_tools.harbor.immutable_tags`) cannot change what production runs. `ops.release_check`
refuses a release whose production values lack a digest, or whose digest was resolved from
another tag than the one the values name.

The credentials are a Harbor user or robot with `artifact:read` on project `plate`: the CI push
robot, from OpenBao `platform/harbor/ci-push` (fields username and password; `ops.harbor_bootstrap`
grants it repository push and pull and artifact read). The pull robots cannot: Harbor's
getArtifact requires artifact read (GetArtifact: RequireProjectAccess(ActionRead,
ResourceArtifact), goharbor/harbor v2.15.1 src/server/v2.0/handler/artifact.go), and they hold
`repository:pull` only, so Harbor answers 403. They are read from the environment and never
printed. Exit status 0 when every digest is recorded (files changed or
not), 1 with one line per problem otherwise (nothing is written unless every app resolved).

Harbor's API: GET /api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/
{reference} (`reference`: a tag or a digest; a repository name with a slash is URL-encoded
twice) answers 200 with an Artifact whose `digest` is the manifest's digest, 401/403/404 with
`{"errors": [{"code", "message"}]}`.
Ref: goharbor/harbor v2.15.1 api/v2.0/swagger.yaml (operationId getArtifact; parameters
projectName, repositoryName, reference; definitions Artifact, Errors).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.config import PlatformConfig, parse_platform_config, read_stack_file
from components.gitops.apps import IN_HOUSE_APPS, app_globals

ROOT = Path(__file__).resolve().parent.parent
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
# the comment `record` writes after the digest, naming the tag it was resolved from
RESOLVED_FROM = re.compile(r"#\s*resolved from tag (\S+) by ops\.pin_digests\s*$")
TIMEOUT = 30


class PinError(Exception):
    """One line, naming the app and what failed."""


@dataclass(frozen=True)
class Image:
    app: str
    values_file: Path  # helm/applications/<app>/values-<env>.yaml
    repository: str  # inside Harbor, e.g. plate/plate-api
    tag: str


def images(cfg: PlatformConfig, root: Path = ROOT) -> list[Image]:
    """The image each in-house app runs in `cfg`'s environment, as its values files say."""
    out = []
    for app in IN_HOUSE_APPS:
        chart = root / app.chart_path
        base = yaml.safe_load((chart / "values.yaml").read_text())["image"]
        env_file = chart / f"values-{cfg.environment}.yaml"
        override = (yaml.safe_load(env_file.read_text()) or {}).get("image") or {}
        image = {**base, **override}
        out.append(Image(app.name, env_file, str(image["repository"]), str(image["tag"])))
    return out


def recorded(image: Image) -> tuple[str | None, str | None]:
    """(digest, tag it was resolved from) as the values file records them."""
    text = image.values_file.read_text()
    digest = ((yaml.safe_load(text) or {}).get("image") or {}).get("digest") or None
    source = None
    for line in text.splitlines():
        if re.match(r"^\s+digest:", line) and (match := RESOLVED_FROM.search(line)):
            source = match.group(1)
    return digest, source


def digest_problems(cfg: PlatformConfig, root: Path = ROOT) -> list[str]:
    """Why the production values do not pin every image by digest (empty: they do)."""
    fix = f"run `python -m ops.pin_digests --stack {cfg.environment}` and commit"
    problems = []
    for image in images(cfg, root):
        where = image.values_file.relative_to(root)
        digest, source = recorded(image)
        if digest is None:
            problems.append(f"{where}: image.digest is not set ({image.repository}:{image.tag}): "
                            f"{fix}")
        elif not DIGEST.match(str(digest)):
            problems.append(f"{where}: image.digest {digest!r} is not sha256:<64 hex>: {fix}")
        elif source != image.tag:
            problems.append(f"{where}: image.digest was resolved from tag {source!r}, the values "
                            f"run tag {image.tag!r}: {fix}")
    return problems


def _repository_path(repository: str) -> tuple[str, str]:
    """(project, repository name encoded for the path) of `<project>/<name>`: the swagger's
    repositoryName parameter wants a slash inside the name URL-encoded twice."""
    project, _, name = repository.partition("/")
    if not project or not name:
        raise PinError(f"image repository {repository!r} is not <project>/<name>")
    once = urllib.parse.quote(name, safe="")
    return urllib.parse.quote(project, safe=""), urllib.parse.quote(once, safe="")


def _error(raw: bytes) -> str:
    try:
        errors = json.loads(raw).get("errors") or []
        return "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))[:200]
    except (ValueError, AttributeError):
        return ""


def resolve(
    image: Image, harbor_url: str, auth: str, context: ssl.SSLContext | None = None
) -> str:
    """The digest of `image` in Harbor (getArtifact by tag)."""
    project, name = _repository_path(image.repository)
    url = (f"{harbor_url.rstrip('/')}/api/v2.0/projects/{project}/repositories/{name}"
           f"/artifacts/{urllib.parse.quote(image.tag, safe='')}?with_tag=false")
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "Authorization": auth}
    )
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    what = f"{image.app}: {image.repository}:{image.tag}"
    try:
        with opener.open(request, timeout=TIMEOUT) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise PinError(f"{what}: Harbor at {harbor_url} did not answer ({exc})") from None
    if status == 404:
        raise PinError(f"{what}: not in Harbor ({_error(raw) or 'HTTP 404'}): push it first")
    if status in (401, 403):
        raise PinError(f"{what}: Harbor refused the credentials (HTTP {status}): set "
                       "HARBOR_USERNAME and HARBOR_PASSWORD to a user or robot with artifact "
                       f"read on project {image.repository.partition('/')[0]} (the CI push "
                       "robot, OpenBao platform/harbor/ci-push)")
    if status != 200:
        raise PinError(f"{what}: Harbor answered HTTP {status}: {_error(raw)}")
    try:
        artifact: Any = json.loads(raw)
        digest = artifact["digest"]
    except (ValueError, KeyError, TypeError):
        raise PinError(f"{what}: Harbor's answer has no artifact digest") from None
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise PinError(f"{what}: Harbor's digest {digest!r} is not sha256:<64 hex>")
    return digest


def with_digest(text: str, digest: str, tag: str) -> str:
    """`text` (a values file) with `image.digest` set to `digest`, commented with `tag`: the
    line replaced, or added after `image.tag` (or as the block's first line); a file without an
    `image:` block gets one at its end. Everything else is kept as it is."""
    line = f'digest: "{digest}"  # resolved from tag {tag} by ops.pin_digests'
    lines = text.splitlines()
    try:
        start = lines.index("image:")
    except ValueError:
        return text.rstrip("\n") + f"\nimage:\n  {line}\n"
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "#")) or not lines[end].strip()):
        end += 1
    block = lines[start + 1:end]
    indent = next((re.match(r"^(\s+)\S", b).group(1)  # type: ignore[union-attr]
                   for b in block if re.match(r"^\s+\S", b)), "  ")
    for i, current in enumerate(block):
        if re.match(rf"^{indent}digest:", current):
            block[i] = indent + line
            break
    else:
        at = next((i + 1 for i, b in enumerate(block) if re.match(rf"^{indent}tag:", b)), 0)
        block.insert(at, indent + line)
    out = [*lines[:start + 1], *block, *lines[end:]]
    return "\n".join(out) + "\n"


def record(
    cfg: PlatformConfig, harbor_url: str, auth: str, context: ssl.SSLContext | None = None,
    root: Path = ROOT,
) -> list[str]:
    """Resolve every image, then write every digest (nothing when one fails); returns the files
    changed."""
    found = {image: resolve(image, harbor_url, auth, context) for image in images(cfg, root)}
    changed = []
    for image, digest in found.items():
        old = image.values_file.read_text()
        new = with_digest(old, digest, image.tag)
        expected = yaml.safe_load(old) or {}
        expected.setdefault("image", {})["digest"] = digest
        if yaml.safe_load(new) != expected:
            raise PinError(f"{image.values_file.relative_to(root)}: could not set image.digest "
                           "alone (edit the image block by hand)")
        if new != old:
            image.values_file.write_text(new)
            changed.append(str(image.values_file.relative_to(root)))
    return changed


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--harbor-url", help="default: https://<dev_tools.harbor.host>.<domain>")
    parser.add_argument("--ca-bundle", help="PEM file that verifies Harbor's certificate")
    args = parser.parse_args(argv)
    cfg = parse_platform_config(read_stack_file(ROOT / f"Pulumi.{args.stack}.yaml"))
    user, password = env.get("HARBOR_USERNAME"), env.get("HARBOR_PASSWORD")
    if not user or not password:
        print("HARBOR_USERNAME and HARBOR_PASSWORD are required (a user or robot with artifact "
              "read on project plate: the CI push robot, OpenBao platform/harbor/ci-push)",
              file=sys.stderr)
        return 1
    auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    url = args.harbor_url or f"https://{app_globals(cfg)['registry']}"
    context = ssl.create_default_context(cafile=args.ca_bundle) if args.ca_bundle else None
    try:
        changed = record(cfg, url, auth, context)
    except PinError as exc:
        print(exc, file=sys.stderr)
        return 1
    for path in changed:
        print(f"pinned: {path}")
    print(f"every {args.stack} image is pinned by digest ({len(changed)} file(s) changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
