"""The DNS-01 solver's RFC 2136 settings against a real DNS server: BIND 9 (Debian's `bind9`),
started on 127.0.0.1 by the test with the zone, TSIG key name and algorithm of each committed
stack.

Verifies: a dynamic update signed with the stack's key name, algorithm (cert-manager's name mapped
to the wire name, `cert_manager.TSIG_WIRE_NAMES`) and secret adds the `_acme-challenge` TXT record
the solver writes, and the server then answers it; the same update signed with another secret, or
another key name, is refused and changes nothing. `named`, `nsupdate` and `dig` come from Debian's
bind9 and bind9-dnsutils (.ci/run installs them); without them the tests fail, never skip.
"""

from __future__ import annotations

import base64
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
from components.tools.cert_manager import TSIG_WIRE_NAMES
from tests.harness import STACKS, stack_config

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
  update-policy {{ grant {zone.key_name} zonesub TXT; }};
}};
""")
    return conf


def _stack_zone(stack: str) -> tuple[str, str, str]:
    """(zone, key name, wire algorithm) exactly as the committed stack configures the solver."""
    acme = parse_platform_config(stack_config(stack)).acme
    assert acme.solver == "dns01" and acme.dns_provider == "rfc2136" and acme.rfc2136 is not None
    wire = TSIG_WIRE_NAMES[acme.rfc2136.tsig_algorithm]
    return acme.dns_zones[0], acme.rfc2136.tsig_key_name, wire


@pytest.fixture(params=STACKS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Zone]:
    name, key_name, algorithm = _stack_zone(request.param)
    zone = Zone(name, key_name, algorithm, base64.b64encode(os.urandom(32)).decode(), _free_port())
    conf = _named_conf(tmp_path, zone)
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
