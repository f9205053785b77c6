"""Evaluates the real program (`__main__.py`) under Pulumi's mock runtime and records what it
registers: the engine's view of a stack, without the Pulumi CLI, a provider plugin or a cluster.

Used by the tests and by `tooling.render`. Each run happens in a fresh `contextvars.Context`
with its own event loop, so runs for different stacks in one process do not share Pulumi's global
state. The recording monitor sees every RegisterResource request as the engine would: type, name,
parent, dependencies, options and the inputs (secret values still wrapped in Pulumi's secret
signature, so a caller can tell what is secret).

Ref: docs/facts.md#pulumi-mock-runtime.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import runpy
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf.json_format import MessageToDict
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func

from components.config import (
    SECRET_KEYS,
    ConfigError,
    parse_platform_config,
    read_stack_file,
    required_secrets,
)

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "plate-platform"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_MARK = "1b47061264138c4ac30d75fd1eb44270"


def stack_file(stack: str) -> Path:
    return ROOT / f"Pulumi.{stack}.yaml"


def stack_config(stack: str) -> dict[str, Any]:
    """The committed Pulumi.<stack>.yaml, keyed without the project prefix."""
    return read_stack_file(stack_file(stack))


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    remote: bool
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]
    transforms: int
    inputs: dict[str, Any]
    provider: str = ""  # `<provider URN>::<id>` when the resource names one

    def plain(self, *path: str) -> Any:
        """Input at `path`, with secret wrappers removed."""
        value: Any = self.inputs
        for key in path:
            value = unwrap(value)[key]
        return unwrap(value)


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_MARK


def unwrap(value: Any) -> Any:
    """A recorded input as the object's field: secrets unwrapped, and whole numbers as integers
    (the engine's protobuf Struct carries every number as a double; the provider sends the API
    server 65532, not 65532.0, which schema checks and scanners would read as a float)."""
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class Recording:
    resources: list[Registered] = field(default_factory=list)

    def by_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str) -> Registered:
        found = [r for r in self.resources if r.type == type_ and r.name == name]
        assert len(found) == 1, f"expected one {type_} {name!r}, found {len(found)}"
        return found[0]

    @staticmethod
    def label(r: Registered) -> str:
        """`Kind/name`: stable whatever else the program registers (a Pulumi URN is unique by
        parent chain, type and name; within this program kind and name are, which a test checks)."""
        return f"{r.type.split(':')[-1]}/{r.name}"

    def named(self, label: str) -> Registered:
        found = [r for r in self.resources if self.label(r) == label]
        assert len(found) == 1, f"expected one resource labelled {label!r}, found {len(found)}"
        return found[0]

    def deps(self, label: str) -> set[str]:
        """Labels of the resources `label` waits for (its RegisterResource dependencies)."""
        by_urn = {r.urn: self.label(r) for r in self.resources}
        return {by_urn[u] for u in self.named(label).dependencies}

    def urn_of(self, name: str) -> str:
        return self.named(name).urn


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks, recording: Recording):
        super().__init__(mocks)
        self.recording = recording

    def RegisterResource(self, request):  # the gRPC method's name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.recording.resources.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=request.custom,
                    remote=request.remote,
                    protect=request.protect,
                    retain_on_delete=request.retainOnDelete,
                    dependencies=list(request.dependencies),
                    transforms=len(request.transforms),
                    inputs=MessageToDict(request.object),
                    provider=request.provider,
                )
            )
        return response


# the generated internal CA's stand-ins: shaped like PEM (ConfigMaps, caBundle), no real key
MOCK_CA_PEM = (
    "-----BEGIN CERTIFICATE-----\nbW9jay1pbnRlcm5hbC1jYQ==\n-----END CERTIFICATE-----\n"
)
MOCK_PRIVATE_KEY_PEM = (
    "-----BEGIN PRIVATE KEY-----\nbW9jay1rZXk=\n-----END PRIVATE KEY-----\n"
)


class PlatformMocks(pulumi_mocks.Mocks):
    """Provider stand-ins: inputs echoed as outputs, stable values for generated ones."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            # stable stand-ins for the provider's generated values (never real credentials)
            outputs["result"] = f"mock-{args.name}"
            outputs["bcryptHash"] = f"$2a$10$mock-{args.name}"
        if args.typ == "random:index/randomUuid:RandomUuid":
            # the provider makes a new UUID when the keepers change: a stand-in that does too
            keepers = json.dumps(args.inputs.get("keepers"), sort_keys=True, default=str)
            outputs["result"] = str(uuid.UUID(hashlib.sha256(keepers.encode()).hexdigest()[:32]))
        if args.typ == "random:index/randomBytes:RandomBytes":
            outputs["hex"] = "00" * int(args.inputs.get("length", 32))
            outputs["base64"] = "mock-base64"
        if args.typ == "tls:index/privateKey:PrivateKey":
            outputs["privateKeyPem"] = MOCK_PRIVATE_KEY_PEM
        if args.typ == "tls:index/selfSignedCert:SelfSignedCert":
            outputs["certPem"] = MOCK_CA_PEM
        if args.typ.startswith("kubernetes:") and args.typ != "pulumi:providers:kubernetes":
            metadata = dict(outputs.get("metadata") or {})
            metadata.setdefault("name", args.name)
            outputs["metadata"] = metadata
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi_mocks.MockCallArgs):
        return {}


def placeholder(key: str) -> str:
    """The stand-in value of secret `key` in an offline evaluation: stable, obviously not real
    (a PEM-shaped one where the config checks the shape)."""
    if key == "internal_ca_key":
        return MOCK_PRIVATE_KEY_PEM
    return f"placeholder-{key.replace('_', '-')}"


def placeholder_secrets(config: dict[str, Any], also: Iterable[str] = ()) -> dict[str, str]:
    """Stand-ins for the secrets `config` requires, plus `also` (e.g. those a stack file sets)."""
    try:
        keys = set(required_secrets(parse_platform_config(config)))
    except ConfigError:
        keys = set()
    return {key: placeholder(key) for key in sorted(keys | (set(also) & set(SECRET_KEYS)))}


def _encode(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def run_program(
    stack: str,
    config: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    plain_keys: dict[str, Any] | None = None,
    recording: Recording | None = None,
) -> Recording:
    """Evaluate __main__.py for `stack` with `config` (default: the committed stack file).

    `secrets` are set as secret config keys (as `pulumi config set --secret` does); by default,
    placeholders for the secrets the configuration requires. `plain_keys` are set without the
    secret flag. Raises what the program raises; pass a
    `recording` to inspect what was registered before it raised.
    """
    config = stack_config(stack) if config is None else config
    recording = Recording() if recording is None else recording
    secrets = placeholder_secrets(config) if secrets is None else secrets

    def evaluate() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            monitor = RecordingMonitor(PlatformMocks(), recording)
            pulumi.runtime.set_mocks(
                PlatformMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor
            )
            flat = {f"{PROJECT}:{k}": _encode(v) for k, v in config.items()}
            flat.update({f"{PROJECT}:{k}": _encode(v) for k, v in (plain_keys or {}).items()})
            flat.update({f"{PROJECT}:{k}": v for k, v in secrets.items()})
            set_all_config(flat, [f"{PROJECT}:{k}" for k in secrets])
            def program() -> None:
                runpy.run_path(str(ROOT / "__main__.py"))

            loop.run_until_complete(run_pulumi_func(program))
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    contextvars.Context().run(evaluate)
    return recording
