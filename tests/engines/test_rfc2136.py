"""The RFC 2136 settings the stacks generate, against a real DNS server: BIND 9 (Debian's `bind9`),
started on 127.0.0.1 by the test, its zone configured as the README asks of the zone's primary
(the key may update A and TXT records and transfer the zone).

Verifies, for each committed stack:
- cert-manager's DNS-01 solver: a dynamic update signed with the stack's key name, algorithm
  (cert-manager's name mapped to the wire name, `cert_manager.TSIG_WIRE_NAMES`) and secret adds
  the `_acme-challenge` TXT record the solver writes, and the server then answers it; the same
  update signed with another secret, or another key name, is refused and changes nothing.
- external-dns: the zone, key name, algorithm and TTL are read from the args of the external-dns
  Deployment the program registers, and the secret from the Secret its environment variable
  references (the program run with a fresh random TSIG secret as `rfc2136_tsig_secret`); the same
  update external-dns sends for an Ingress host (over TCP, as its rfc2136 provider does: the host's
  A record at the ingress address and its TXT ownership record, named and worded as
  `--txt-prefix`/`--txt-owner-id` make them) is accepted and both are served; the zone transfer
  external-dns lists the zone with (`--rfc2136-axfr`) returns them to that key; a wrong secret is
  refused for the update (NOTAUTH(BADSIG)) and the transfer, and writes nothing.
Only the server's address differs from the stack's (`--rfc2136-host`/`--rfc2136-port` name the
zone's real primary, checked against `acme.rfc2136.nameserver`). `named`, `nsupdate` and `dig` come
from Debian's bind9 and bind9-dnsutils (.ci/run installs them); without them the tests fail, never
skip.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.config import parse_platform_config
from components.tools import external_dns
from components.tools.cert_manager import TSIG_WIRE_NAMES
from tests.harness import (
    STACKS,
    Recording,
    placeholder_secrets,
    run_program,
    stack_config,
    unwrap,
)

TIMEOUT = 20


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        pytest.fail(f"{name} not found: install Debian's bind9 and bind9-dnsutils (.ci/run does)")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Zone:
    name: str
    key_name: str
    algorithm: str  # the wire name, e.g. hmac-sha256
    secret: str
    port: int


def _named_conf(root: Path, zone: Zone) -> Path:
    (root / "db.zone").write_text(
        f"$TTL 60\n@ IN SOA ns.{zone.name}. hostmaster.{zone.name}. 1 60 60 600 60\n"
        f"@ IN NS ns.{zone.name}.\nns IN A 127.0.0.1\n"
    )
    conf = root / "named.conf"
    conf.write_text(f"""
options {{
  directory "{root}";
  pid-file "{root}/named.pid";
  listen-on port {zone.port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion no;
  dnssec-validation no;
  notify no;
}};
key "{zone.key_name}" {{ algorithm {zone.algorithm}; secret "{zone.secret}"; }};
zone "{zone.name}" {{
  type primary;
  file "{root}/db.zone";
  update-policy {{ grant {zone.key_name} zonesub TXT A; }};
  allow-transfer {{ key "{zone.key_name}"; }};
}};
""")
    return conf


def _stack_zone(stack: str) -> tuple[str, str, str]:
    """(zone, key name, wire algorithm) exactly as the committed stack configures the solver."""
    acme = parse_platform_config(stack_config(stack)).acme
    assert acme.solver == "dns01" and acme.dns_provider == "rfc2136" and acme.rfc2136 is not None
    wire = TSIG_WIRE_NAMES[acme.rfc2136.tsig_algorithm]
    return acme.dns_zones[0], acme.rfc2136.tsig_key_name, wire


@contextlib.contextmanager
def _serving(root: Path, zone: Zone) -> Iterator[Zone]:
    """named with `zone` on 127.0.0.1, until the block ends."""
    conf = _named_conf(root, zone)
    check = subprocess.run([_tool("named-checkconf"), str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen([_tool("named"), "-g", "-c", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while _txt(zone, f"ns.{zone.name}", "A") != ["127.0.0.1"]:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"named did not start: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.2)
        yield zone
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _secret() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(params=STACKS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Zone]:
    name, key_name, algorithm = _stack_zone(request.param)
    with _serving(tmp_path, Zone(name, key_name, algorithm, _secret(), _free_port())) as zone:
        yield zone


def _txt(zone: Zone, name: str, rtype: str = "TXT") -> list[str]:
    result = subprocess.run(
        [_tool("dig"), "@127.0.0.1", "-p", str(zone.port), "+short", "+time=2", "+tries=1",
         name, rtype], capture_output=True, text=True, timeout=TIMEOUT,
    )
    return [line.strip('"') for line in result.stdout.split()] if result.returncode == 0 else []


def _update(zone: Zone, key_name: str, secret: str, record: str) -> subprocess.CompletedProcess:
    """What cert-manager's RFC 2136 solver sends: a TSIG-signed add of the challenge TXT record."""
    script = (f"server 127.0.0.1 {zone.port}\nzone {zone.name}\n"
              f'update add {record} 60 TXT "token-value"\nsend\n')
    return subprocess.run(
        [_tool("nsupdate"), "-t", "5", "-y", f"{zone.algorithm}:{key_name}:{secret}"],
        input=script, capture_output=True, text=True, timeout=TIMEOUT,
    )


def test_the_stacks_key_updates_the_zone(server: Zone) -> None:
    record = f"_acme-challenge.grafana.{server.name}"
    result = _update(server, server.key_name, server.secret, record)
    assert result.returncode == 0, result.stderr
    assert _txt(server, record) == ["token-value"]


def test_another_secret_or_key_name_is_refused(server: Zone) -> None:
    record = f"_acme-challenge.harbor.{server.name}"
    wrong = base64.b64encode(os.urandom(32)).decode()
    # nsupdate 9.18 exits 2 with the server's answer: NOTAUTH and the TSIG error (BADSIG for
    # another secret, BADKEY for a key name the server does not know)
    for key_name, secret, error in ((server.key_name, wrong, "BADSIG"),
                                    (f"other.{server.key_name}", server.secret, "BADKEY")):
        refused = _update(server, key_name, secret, record)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.strip().splitlines()[-1] == f"update failed: NOTAUTH({error})"
    assert _txt(server, record) == []


def test_the_algorithm_names_cover_every_setting() -> None:
    from components.config import _TSIG_ALGORITHMS  # the model's own list

    assert sorted(TSIG_WIRE_NAMES) == sorted(_TSIG_ALGORITHMS)


# --- external-dns --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExternalDns:
    """What the program gives external-dns for one stack, run with `secret` as the TSIG secret."""

    stack: str
    args: dict[str, list[str]]  # flag -> values (`--rfc2136-axfr` -> [""])
    secret: str  # the value the Deployment's environment variable reads from its Secret
    domain: str
    ingress_address: str
    host: str  # an Ingress host of the stack (Grafana's)


def _flags(args: list[str]) -> dict[str, list[str]]:
    flags: dict[str, list[str]] = {}
    for arg in args:
        name, _, value = arg.removeprefix("--").partition("=")
        flags.setdefault(name, []).append(value)
    return flags


def _external_dns(stack: str, secret: str) -> ExternalDns:
    config = stack_config(stack)
    secrets = placeholder_secrets(config) | {"rfc2136_tsig_secret": secret}
    recording: Recording = run_program(stack, config, secrets=secrets)
    deployment = recording.one("kubernetes:apps/v1:Deployment", external_dns.NAME)
    (container,) = deployment.plain("spec", "template", "spec", "containers")
    (env,) = container["env"]
    assert env["name"] == "EXTERNAL_DNS_RFC2136_TSIG_SECRET"  # kingpin's name of the flag
    ref = env["valueFrom"]["secretKeyRef"]
    (holder,) = [s for s in recording.by_type("kubernetes:core/v1:Secret")
                 if unwrap(s.inputs["metadata"]).get("name") == ref["name"]
                 and unwrap(s.inputs["metadata"]).get("namespace") == "external-dns"]
    value = holder.plain("stringData", ref["key"])
    assert value == secret  # the stack secret `rfc2136_tsig_secret`, unchanged
    cfg = parse_platform_config(config)
    assert cfg.dev_tools is not None and cfg.ingress.load_balancer_ip is not None
    return ExternalDns(
        stack, _flags(container["args"]), value, cfg.domain, cfg.ingress.load_balancer_ip,
        cfg.fqdn(cfg.dev_tools.monitoring.grafana_host),
    )


@pytest.fixture(scope="module", params=STACKS)
def generated(request: pytest.FixtureRequest) -> ExternalDns:
    return _external_dns(request.param, _secret())


@pytest.fixture
def dns_server(generated: ExternalDns, tmp_path: Path) -> Iterator[Zone]:
    """BIND serving the zone external-dns writes to, with its key name, algorithm and secret."""
    args = generated.args
    (zone,) = args["rfc2136-zone"]
    (key_name,) = args["rfc2136-tsig-keyname"]
    (algorithm,) = args["rfc2136-tsig-secret-alg"]
    with _serving(tmp_path, Zone(zone, key_name, algorithm, generated.secret, _free_port())) as z:
        yield z


def _ownership(generated: ExternalDns, host: str, resource: str) -> tuple[str, str]:
    """The TXT record external-dns keeps next to `host`'s A record (registry/mapper/mapper.go
    ToTXTName, endpoint/labels.go SerializePlain at v0.22.0)."""
    (prefix,) = generated.args["txt-prefix"]
    (owner,) = generated.args["txt-owner-id"]
    first, _, rest = host.partition(".")
    text = f"heritage=external-dns,external-dns/owner={owner},external-dns/resource={resource}"
    return f"{prefix}a-{first}.{rest}", text


def _external_dns_update(
    zone: Zone, generated: ExternalDns, secret: str, host: str, txt: tuple[str, str]
) -> subprocess.CompletedProcess:
    """The update external-dns sends for a new Ingress host: its A record at the address the
    ingress publishes, and the ownership TXT record, over TCP (`nsupdate -v`), with the TTL of
    `--rfc2136-min-ttl`."""
    (key_name,) = generated.args["rfc2136-tsig-keyname"]
    (ttl,) = generated.args["rfc2136-min-ttl"]
    seconds = int(ttl.removesuffix("s"))
    name, text = txt
    script = (f"server 127.0.0.1 {zone.port}\nzone {zone.name}\n"
              f"update add {host} {seconds} A {generated.ingress_address}\n"
              f'update add {name} {seconds} TXT "{text}"\nsend\n')
    return subprocess.run(
        [_tool("nsupdate"), "-v", "-t", "5", "-y", f"{zone.algorithm}:{key_name}:{secret}"],
        input=script, capture_output=True, text=True, timeout=TIMEOUT,
    )


def _transfer(zone: Zone, key_name: str, secret: str) -> tuple[list[list[str]], list[str]]:
    """The zone as external-dns lists it (AXFR signed with its key): ([name, ttl, class, type,
    data] per record, dig's own comment lines)."""
    result = subprocess.run(
        [_tool("dig"), "@127.0.0.1", "-p", str(zone.port), "+time=2", "+tries=1", "+noall",
         "+answer", "-y", f"{zone.algorithm}:{key_name}:{secret}", zone.name, "AXFR"],
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return ([line.split(None, 4) for line in lines if not line.startswith(";")],
            [line for line in lines if line.startswith(";")])


def test_external_dns_is_configured_for_the_stacks_primary_and_key(generated: ExternalDns) -> None:
    acme = parse_platform_config(stack_config(generated.stack)).acme.rfc2136
    assert acme is not None
    host, _, port = acme.nameserver.rpartition(":")
    args = generated.args
    assert args["provider"] == ["rfc2136"]
    assert (args["rfc2136-host"], args["rfc2136-port"]) == ([host], [port])
    assert args["rfc2136-zone"] == [generated.domain]
    assert args["rfc2136-tsig-keyname"] == [acme.tsig_key_name]
    assert args["rfc2136-tsig-secret-alg"] == [TSIG_WIRE_NAMES[acme.tsig_algorithm]]
    assert args["rfc2136-axfr"] == [""]
    assert "rfc2136-tsig-secret" not in args  # the secret only through the environment


def test_external_dns_writes_an_ingress_hosts_records(
    generated: ExternalDns, dns_server: Zone
) -> None:
    host = generated.host
    txt = _ownership(generated, host, "ingress/monitoring/kube-prometheus-stack-grafana")
    result = _external_dns_update(dns_server, generated, generated.secret, host, txt)
    assert result.returncode == 0, result.stderr
    assert _txt(dns_server, host, "A") == [generated.ingress_address]
    assert _txt(dns_server, txt[0]) == [txt[1]]
    listed, notes = _transfer(dns_server, dns_server.key_name, generated.secret)
    assert notes == []
    records = {(r[0], r[3]): r for r in listed}
    assert records[(f"{host}.", "A")] == [f"{host}.", "300", "IN", "A", generated.ingress_address]
    assert records[(f"{txt[0]}.", "TXT")][4] == f'"{txt[1]}"'


def test_external_dns_with_a_wrong_secret_writes_and_reads_nothing(
    generated: ExternalDns, dns_server: Zone
) -> None:
    host = f"argocd.{generated.domain}"
    txt = _ownership(generated, host, "ingress/argocd/argocd-server")
    wrong = _secret()
    refused = _external_dns_update(dns_server, generated, wrong, host, txt)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == "update failed: NOTAUTH(BADSIG)"
    assert _txt(dns_server, host, "A") == []
    assert _txt(dns_server, txt[0]) == []
    # the server answers a transfer signed with another secret with a BADSIG error, which dig
    # cannot verify: no record
    assert _transfer(dns_server, dns_server.key_name, wrong) == ([], [
        ";; Couldn't verify signature: tsig indicates error", "; Transfer failed."])
    records, _ = _transfer(dns_server, dns_server.key_name, generated.secret)
    # the zone as created: SOA, NS, ns's A, the closing SOA
    assert [r[3] for r in records] == ["SOA", "NS", "A", "SOA"]
