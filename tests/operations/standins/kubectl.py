"""A stand-in for `kubectl` 1.34 that tells the truth, put first on PATH by the operations tests.

    cluster = Cluster(tmp_path / "cluster.json", contexts=["plate-prod"])
    cluster.add(obj)                                  # what the API server stores
    cluster.on_create("Job", "openbao", [status, ...])  # what the controller does next
    cluster.install(bin_dir)                          # bin_dir/kubectl runs this module
    ... the code under test runs `kubectl` ...
    cluster.calls(), cluster.get("Backup", "velero", name)

The state (objects, controllers' timelines, the log of calls) is one JSON file, so each `kubectl`
process reads and writes it. Sources: kubernetes/kubectl, kubernetes/cli-runtime,
kubernetes/client-go and kubernetes/apimachinery at tag v0.34.0 (= Kubernetes 1.34.0; the kubectl
files cited are unchanged through v0.34.10), paths relative to each repository.

What it reproduces, each with its source:
  * global flags `--context`, `-n/--namespace`, `--request-timeout`, `-o/--output` in any
    position, `--flag value` or `--flag=value`;
  * exit status 1 for every error (kubectl pkg/cmd/util/helpers.go: `DefaultErrorExitCode = 1`,
    used by checkErr), the message on stderr, nothing on stdout;
  * an unknown `--context`: `Error in configuration: context was not found for specified
    context: <name>` (client-go tools/clientcmd/validation.go errContextNotFound;
    helpers.go checkErr: `clientcmd.IsConfigurationInvalid` -> "Error in configuration: ");
  * an unreachable API server: `Unable to connect to the server: <dial error>` (helpers.go
    StandardErrorMessage, `*url.Error`);
  * a resource type the server does not serve (a CRD not installed): `error: the server doesn't
    have a resource type "<plural>"` (cli-runtime pkg/resource/builder.go mappingFor; checkErr
    prefixes "error: " to errors it does not recognise);
  * `get TYPE -o json` (no name): always a `{"apiVersion": "v1", "items": [...], "kind": "List",
    "metadata": {"resourceVersion": ""}}`, also when empty, with nothing on stderr (kubectl
    pkg/cmd/get/get.go printGeneric; "No resources found" is written only by the human-readable
    path of GetOptions.Run); `get TYPE NAME -o json` and `get TYPE/NAME -o json`: the object itself
    (printGeneric, single item implied);
  * a missing object: `Error from server (NotFound): <plural>.<group> "<name>" not found`
    (apimachinery pkg/api/errors/errors.go NewNotFound: `%s %q not found` with the qualified
    resource, GroupResource.String(); helpers.go StandardErrorMessage: `Error from server
    (<Reason>): <message>`);
  * JSON output as `json.MarshalIndent(obj, "", "    ")` plus a newline (cli-runtime
    pkg/printers/json.go); objects are unstructured maps, whose keys Go's encoder sorts;
  * `-o name` and the default output of `create`: `<kind>.<group>/<name>` and
    `<kind>.<group>/<name> created` (cli-runtime pkg/printers/name.go printObj; the kind lower
    case, no group for the core group);
  * `create job NAME --from=cronjob/CJ`: the Job kubectl builds (kubectl
    pkg/cmd/create/create_job.go createJobFromCronJob): annotation
    `cronjob.kubernetes.io/instantiate: manual` plus the job template's annotations, the job
    template's labels, an owner reference to the CronJob (`controller: true`), the job
    template's spec. A missing CronJob: the NotFound error of the builder's GET, unwrapped
    (`Error from server (NotFound): cronjobs.batch "CJ" not found`); a failed create:
    `error: failed to create job: <server message>` (Run wraps it with fmt.Errorf);
    `error: exactly one NAME is required, got N` and a line `See 'kubectl create job -h' for help
    and examples` (create.go NameFromCommandArgs, helpers.go UsageErrorf) for a missing name;
    `--from` without `cronjob/`: refused as not modelled;
  * `create -f -` of one JSON or YAML object: created as given (namespace from `-n` unless the
    object names one; a different one is refused with `error: the namespace from the provided
    object "A" does not match the namespace "B". You must pass '--namespace=A' to perform this
    operation.`, cli-runtime pkg/resource/visitor.go); an existing name: `Error from server
    (AlreadyExists): error when creating "STDIN": <plural>.<group> "<name>" already exists`
    (kubectl pkg/cmd/create/create.go RunCreate -> helpers.go AddSourceToErr keeps the status
    error and prefixes `error when creating "STDIN": `; the stdin source is named "STDIN",
    cli-runtime pkg/resource/visitor.go constSTDINstr; apimachinery NewAlreadyExists).

The API server's side, as far as the tests need it: a created object gets `metadata.uid`,
`resourceVersion`, `creationTimestamp` and `generation: 1`; a Job is returned with `status: {}`.
Other server defaults (a Job's selector and `job-name` labels, ...) are not filled in: nothing
here reads them. Controllers are timelines the test writes: each `get` of an object (alone or
in a list) first applies the next status of its timeline, so a test decides what the Job
controller or Velero reports, and when.

Anything else (other verbs, table output, selectors, watches) is refused with exit status 2 and
`kubectl stand-in: not modelled: ...` on stderr, so a test never passes on a made-up answer; a
crash of the stand-in itself also exits 2 (`kubectl stand-in: crashed: ...`), never 1 like a
kubectl error.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

STATE_ENV = "KUBECTL_STANDIN_STATE"
NOT_MODELLED = 2  # the stand-in's own refusal; kubectl itself exits 1 on every error
CREATED_AT = "2026-01-01T00:00:00Z"  # creationTimestamp of created objects (RFC 3339, UTC)


@dataclass(frozen=True)
class Resource:
    plural: str
    group: str  # "" for the core group
    version: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The GroupResource as the API server names it in messages (`jobs.batch`)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_group(self) -> str:
        """The name printer's `<kind>.<group>` (`job.batch`)."""
        return f"{self.kind.lower()}.{self.group}" if self.group else self.kind.lower()


# the resource types the operations scripts read or create
RESOURCES = (
    Resource("jobs", "batch", "v1", "Job"),
    Resource("cronjobs", "batch", "v1", "CronJob"),
    Resource("schedules", "velero.io", "v1", "Schedule"),
    Resource("backups", "velero.io", "v1", "Backup"),
    Resource("applications", "argoproj.io", "v1alpha1", "Application"),
    Resource("externalsecrets", "external-secrets.io", "v1", "ExternalSecret"),
    Resource("clustersecretstores", "external-secrets.io", "v1", "ClusterSecretStore",
             namespaced=False),
    Resource("secretstores", "external-secrets.io", "v1", "SecretStore"),
)
BY_KIND = {r.kind: r for r in RESOURCES}


class KubectlError(Exception):
    """What kubectl prints on stderr before it exits with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def not_modelled(what: str) -> KubectlError:
    return KubectlError(f"kubectl stand-in: not modelled: {what}", NOT_MODELLED)


# --- the state file -----------------------------------------------------------------------------


def _key(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind}/{namespace or ''}/{name}"


class Cluster:
    """The test's handle on the state file the stand-in reads and writes."""

    def __init__(self, path: Path, contexts: list[str], current: str | None = None) -> None:
        self.path = path
        self._write({
            "contexts": contexts, "current": current or contexts[0], "unreachable": None,
            "unserved": [], "objects": {}, "timelines": {}, "on_create": {}, "calls": [],
            "resource_version": 1000,
        })

    def _read(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.path.read_text())
        return state

    def _write(self, state: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(state, indent=1))

    def _update(self, key: str, value: Any) -> None:
        state = self._read()
        state[key] = value
        self._write(state)

    def add(self, obj: dict[str, Any], timeline: list[dict[str, Any]] | None = None) -> None:
        """Store `obj` (apiVersion, kind, metadata.name, metadata.namespace when namespaced);
        `timeline`: the statuses its controller reports, one more at each `get`."""
        state = self._read()
        meta = obj["metadata"]
        resource = BY_KIND[obj["kind"]]
        key = _key(obj["kind"], meta.get("namespace") if resource.namespaced else None,
                   meta["name"])
        state["objects"][key] = obj
        if timeline:
            state["timelines"][key] = timeline
        self._write(state)

    def on_create(self, kind: str, namespace: str, timeline: list[dict[str, Any]]) -> None:
        """The statuses the controller reports for the next `kind` created in `namespace`."""
        state = self._read()
        state["on_create"].setdefault(f"{kind}/{namespace}", []).append(timeline)
        self._write(state)

    def unreachable(self, dial_error: str) -> None:
        """Every call fails as kubectl does when it cannot reach the API server."""
        self._update("unreachable", dial_error)

    def unserve(self, kind: str) -> None:
        """The server no longer serves `kind` (its CRD is not installed)."""
        state = self._read()
        state["unserved"].append(kind)
        self._write(state)

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._read()["objects"].get(_key(kind, namespace, name))
        return found

    def objects(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self._read()["objects"].values() if o["kind"] == kind]

    def calls(self) -> list[list[str]]:
        return [call["argv"] for call in self._read()["calls"]]

    def stdin_of(self, index: int) -> str | None:
        stdin: str | None = self._read()["calls"][index]["stdin"]
        return stdin

    def install(self, bin_dir: Path) -> Path:
        """Write `bin_dir/kubectl`, which runs this module against this state file."""
        bin_dir.mkdir(parents=True, exist_ok=True)
        script = bin_dir / "kubectl"
        # a crash of the stand-in itself exits NOT_MODELLED, never like a kubectl error
        script.write_text(
            f"#!{sys.executable}\n"
            "import importlib.util, sys, traceback\n"
            "try:\n"
            f"    spec = importlib.util.spec_from_file_location('kubectl_standin', {__file__!r})\n"
            "    module = importlib.util.module_from_spec(spec)\n"
            "    sys.modules['kubectl_standin'] = module\n"
            "    spec.loader.exec_module(module)\n"
            f"    code = module.main(sys.argv[1:], {str(self.path)!r})\n"
            "except Exception:\n"
            "    sys.stderr.write('kubectl stand-in: crashed: ' + traceback.format_exc())\n"
            f"    code = {NOT_MODELLED}\n"
            "sys.exit(code)\n"
        )
        script.chmod(0o755)
        return script


# --- the command line ---------------------------------------------------------------------------

# flags that take a value, as kubectl spells them (short forms included)
VALUE_FLAGS = {
    "--context": "context", "-n": "namespace", "--namespace": "namespace",
    "--request-timeout": "request_timeout", "-o": "output", "--output": "output",
    "-f": "filename", "--filename": "filename", "--from": "from",
}


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """(positional arguments, flags by name); an unknown flag is not modelled."""
    positional: list[str] = []
    flags: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, has_value, value = arg.partition("=")
        if name not in VALUE_FLAGS:
            raise not_modelled(f"flag {name}")
        if not has_value:
            value = next(args, "")
        flags[VALUE_FLAGS[name]] = value
    return positional, flags


def resource_of(arg: str, state: dict[str, Any]) -> Resource:
    """The resource a TYPE argument names: plural, singular or kind, bare or with its group."""
    name, _, group = arg.lower().partition(".")
    for resource in RESOURCES:
        if name in (resource.plural, resource.kind.lower()) and group in ("", resource.group):
            if resource.kind in state["unserved"]:
                break
            return resource
    # cli-runtime pkg/resource/builder.go mappingFor: the resource part of the argument
    raise KubectlError(f'error: the server doesn\'t have a resource type "{name}"')


def not_found(resource: Resource, name: str) -> KubectlError:
    return KubectlError(f'Error from server (NotFound): {resource.qualified} "{name}" not found')


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=4, sort_keys=True) + "\n"


def printed(obj: dict[str, Any], resource: Resource, output: str, created: bool) -> str:
    if output == "json":
        return dump(obj)
    if output == "name":
        return f"{resource.kind_group}/{obj['metadata']['name']}\n"
    if output == "" and created:
        return f"{resource.kind_group}/{obj['metadata']['name']} created\n"
    raise not_modelled(f"output {output or 'table'!r}")


def _advance(state: dict[str, Any], key: str) -> dict[str, Any]:
    """The object at `key` after its controller's next step (its timeline's next status)."""
    obj: dict[str, Any] = state["objects"][key]
    timeline = state["timelines"].get(key)
    if timeline:
        obj["status"] = timeline.pop(0)
    return obj


def get(state: dict[str, Any], args: list[str], flags: dict[str, str], namespace: str) -> str:
    if flags.get("output") != "json":
        raise not_modelled(f"get -o {flags.get('output') or 'table'}")
    if len(args) == 1 and "/" in args[0]:
        args = args[0].split("/", 1)
    if not args or len(args) > 2:
        raise not_modelled(f"get {' '.join(args)}")
    resource = resource_of(args[0], state)
    ns = namespace if resource.namespaced else None
    if len(args) == 2:
        key = _key(resource.kind, ns, args[1])
        if key not in state["objects"]:
            raise not_found(resource, args[1])
        return dump(_advance(state, key))
    prefix = _key(resource.kind, ns, "")
    items = [_advance(state, k) for k in sorted(state["objects"]) if k.startswith(prefix)]
    return dump({"apiVersion": "v1", "items": items, "kind": "List",
                 "metadata": {"resourceVersion": ""}})


def _store(state: dict[str, Any], obj: dict[str, Any], resource: Resource) -> dict[str, Any]:
    """Create `obj` as the API server does: server fields filled in, the next controller
    timeline of its kind and namespace attached. AlreadyExists is the caller's to check."""
    meta = obj["metadata"]
    state["resource_version"] += 1
    meta.update(uid=str(uuid.uuid4()), resourceVersion=str(state["resource_version"]),
                creationTimestamp=CREATED_AT, generation=1)
    key = _key(resource.kind, meta.get("namespace"), meta["name"])
    state["objects"][key] = obj
    queued = state["on_create"].get(f"{resource.kind}/{meta.get('namespace', '')}")
    if queued:
        state["timelines"][key] = queued.pop(0)
    return obj


def create_job(state: dict[str, Any], args: list[str], flags: dict[str, str],
               namespace: str) -> str:
    if len(args) != 1:
        # create.go NameFromCommandArgs -> helpers.go UsageErrorf adds the help line
        raise KubectlError(f"error: exactly one NAME is required, got {len(args)}\n"
                           "See 'kubectl create job -h' for help and examples")
    source = flags.get("from", "")
    kind, _, cronjob_name = source.partition("/")
    if kind.lower() not in ("cronjob", "cronjobs", "cronjob.batch", "cronjobs.batch"):
        raise not_modelled(f"create job --from={source}")
    cronjobs = BY_KIND["CronJob"]
    cronjob = state["objects"].get(_key("CronJob", namespace, cronjob_name))
    if cronjob is None:
        raise not_found(cronjobs, cronjob_name)
    template = cronjob["spec"]["jobTemplate"]
    template_meta = template.get("metadata") or {}
    name = args[0]
    job: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": name, "namespace": namespace,
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual",
                            **(template_meta.get("annotations") or {})},
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "CronJob",
                "name": cronjob["metadata"]["name"], "uid": cronjob["metadata"].get("uid", ""),
                "controller": True,
            }],
        },
        "spec": json.loads(json.dumps(template["spec"])),
        "status": {},
    }
    if template_meta.get("labels"):
        job["metadata"]["labels"] = dict(template_meta["labels"])
    jobs = BY_KIND["Job"]
    if _key("Job", namespace, name) in state["objects"]:
        raise KubectlError(f'error: failed to create job: {jobs.qualified} "{name}" already exists')
    return printed(_store(state, job, jobs), jobs, flags.get("output", ""), created=True)


def create_from_stdin(state: dict[str, Any], flags: dict[str, str], namespace: str,
                      explicit_namespace: bool, stdin: str) -> str:
    obj = yaml.safe_load(stdin)
    if not isinstance(obj, dict) or "kind" not in obj or "metadata" not in obj:
        raise not_modelled("create -f - of anything but one object")
    if obj["kind"] not in BY_KIND:
        raise not_modelled(f"create of kind {obj['kind']}")
    resource = resource_of(obj["kind"], state)
    meta = obj["metadata"]
    if resource.namespaced:
        given = meta.get("namespace")
        if given and explicit_namespace and given != namespace:
            raise KubectlError(
                f'error: the namespace from the provided object "{given}" does not match the '
                f'namespace "{namespace}". You must pass \'--namespace={given}\' to perform this '
                "operation."
            )
        meta["namespace"] = given or namespace
    if _key(resource.kind, meta.get("namespace"), meta["name"]) in state["objects"]:
        raise KubectlError(
            f'Error from server (AlreadyExists): error when creating "STDIN": '
            f'{resource.qualified} "{meta["name"]}" already exists'
        )
    return printed(_store(state, obj, resource), resource, flags.get("output", ""), created=True)


def run(state: dict[str, Any], argv: list[str], stdin: str | None) -> str:
    """kubectl's stdout for `argv`; KubectlError for what it writes to stderr and exits with."""
    positional, flags = parse(argv)
    context = flags.get("context") or state["current"]
    if context not in state["contexts"]:
        raise KubectlError(
            f"Error in configuration: context was not found for specified context: {context}"
        )
    if state["unreachable"]:
        raise KubectlError(f"Unable to connect to the server: {state['unreachable']}")
    namespace = flags.get("namespace") or "default"
    verb, *args = positional or [""]
    if verb == "get":
        return get(state, args, flags, namespace)
    if verb == "create" and args[:1] == ["job"]:
        return create_job(state, args[1:], flags, namespace)
    if verb == "create" and not args and flags.get("filename") == "-":
        return create_from_stdin(state, flags, namespace, "namespace" in flags, stdin or "")
    raise not_modelled(" ".join(positional) or "no command")


def main(argv: list[str], state_path: str | None = None) -> int:
    path = Path(state_path or os.environ[STATE_ENV])
    state = json.loads(path.read_text())
    _, flags = parse_quietly(argv)
    stdin = sys.stdin.read() if flags.get("filename") == "-" else None
    state["calls"].append({"argv": ["kubectl", *argv], "stdin": stdin})
    try:
        out = run(state, argv, stdin)
    except KubectlError as exc:
        path.write_text(json.dumps(state, indent=1))
        sys.stderr.write(f"{exc}\n")
        return exc.code
    path.write_text(json.dumps(state, indent=1))
    sys.stdout.write(out)
    return 0


def parse_quietly(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """`parse`, but an unknown flag is left for `run` to refuse (the call is logged first)."""
    try:
        return parse(argv)
    except KubectlError:
        return [], {}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
