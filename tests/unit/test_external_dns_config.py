"""The `dns` section (external-dns) of the stack config and the command line it becomes; pure.

Verifies: both committed stacks write their records by RFC 2136 with the DNS-01 solver's primary
and key; a bad `dns` section is refused before anything is registered, each problem with its
dotted key and the fix (unknown provider and key, pdns without its server or with http-less URL,
settings of another provider, a zone that does not hold the domain, rfc2136 without
`acme.rfc2136` or with an algorithm external-dns cannot sign with, `dns` in a stack that does not
own cluster_services); the provider's credential is a required secret and one set for no provider
is refused; external-dns' args per provider are exactly the expected ones, and without `dns` there
are none.
"""

from __future__ import annotations

import copy

import pytest

from components.config import (
    parse_platform_config,
    required_secrets,
    secret_conflicts,
)
from components.tools import external_dns
from tests.harness import config_problems as problems
from tests.harness import stack_config


@pytest.fixture
def stg() -> dict:
    return copy.deepcopy(stack_config("stg"))


COMMON = [
    "--source=ingress",
    "--ingress-class=traefik",
    "--domain-filter=stg.plate.dev",
    "--policy=sync",
    "--registry=txt",
    "--txt-owner-id=plate-stg",
    "--txt-prefix=external-dns-",
    "--events",
]


@pytest.mark.parametrize("stack", ["stg", "prod"])
def test_the_committed_stacks_use_rfc2136_with_the_solvers_primary_and_key(stack: str) -> None:
    cfg = parse_platform_config(stack_config(stack))
    settings = external_dns.Settings.of(cfg)
    assert settings is not None
    assert settings.provider == "rfc2136"
    assert settings.rfc2136 == external_dns.Rfc2136(
        "ns-primary.plate.dev", 53, cfg.domain, f"acme-{stack}.plate.dev", "hmac-sha256"
    )
    assert required_secrets(cfg)["rfc2136_tsig_secret"] == (
        "acme.solver is 'dns01' with dns_provider 'rfc2136'"
    )


def test_rfc2136_args(stg: dict) -> None:
    settings = external_dns.Settings.of(parse_platform_config(stg))
    assert settings is not None
    assert external_dns.args(settings) == [
        *COMMON,
        "--provider=rfc2136",
        "--rfc2136-host=ns-primary.plate.dev",
        "--rfc2136-port=53",
        "--rfc2136-zone=stg.plate.dev",
        "--rfc2136-tsig-keyname=acme-stg.plate.dev",
        "--rfc2136-tsig-secret-alg=hmac-sha256",
        "--rfc2136-axfr",
        "--rfc2136-min-ttl=300s",
    ]


def test_rfc2136_into_a_parent_zone_with_another_algorithm(stg: dict) -> None:
    stg["dns"]["zone"] = "plate.dev"
    stg["acme"]["rfc2136"]["tsig_algorithm"] = "HMACSHA512"
    settings = external_dns.Settings.of(parse_platform_config(stg))
    assert settings is not None and settings.rfc2136 is not None
    assert (settings.rfc2136.zone, settings.rfc2136.algorithm) == ("plate.dev", "hmac-sha512")


def test_cloudflare_args_and_secret(stg: dict) -> None:
    stg["dns"] = {"provider": "cloudflare"}
    cfg = parse_platform_config(stg)
    settings = external_dns.Settings.of(cfg)
    assert settings is not None
    assert external_dns.args(settings) == [*COMMON, "--provider=cloudflare"]
    assert external_dns.CREDENTIAL_ENV["cloudflare"] == "CF_API_TOKEN"
    assert required_secrets(cfg)["cloudflare_api_token"] == "dns.provider is 'cloudflare'"


def test_pdns_args_and_secret(stg: dict) -> None:
    stg["dns"] = {"provider": "pdns", "pdns": {"server": "http://pdns.lan.plate.dev:8081"}}
    cfg = parse_platform_config(stg)
    settings = external_dns.Settings.of(cfg)
    assert settings is not None
    assert external_dns.args(settings) == [
        *COMMON,
        "--provider=pdns",
        "--pdns-server=http://pdns.lan.plate.dev:8081",
        "--pdns-server-id=localhost",
    ]
    assert required_secrets(cfg)["pdns_api_key"] == "dns.provider is 'pdns'"
    assert secret_conflicts(cfg, {"pdns_api_key"}) == []


def test_without_dns_there_is_no_external_dns(stg: dict) -> None:
    del stg["dns"]
    cfg = parse_platform_config(stg)
    assert external_dns.Settings.of(cfg) is None
    assert "pdns_api_key" not in required_secrets(cfg)
    assert secret_conflicts(cfg, {"pdns_api_key"}) == [
        "pdns_api_key: set, but dns.provider 'pdns' is not; set dns.provider 'pdns' or remove "
        "the secret (`pulumi config rm pdns_api_key`)"
    ]


def test_the_tsig_secret_is_used_by_external_dns_alone(stg: dict) -> None:
    """The solver on HTTP-01 with a public address, records still by RFC 2136: the secret is
    required and not unused."""
    stg["acme"]["solver"] = "http01"
    stg["acme"]["public_address"] = "1.2.3.4"
    cfg = parse_platform_config(stg)
    assert required_secrets(cfg)["rfc2136_tsig_secret"] == "dns.provider is 'rfc2136'"
    assert secret_conflicts(cfg, {"rfc2136_tsig_secret"}) == []


@pytest.mark.parametrize(
    ("dns", "expected"),
    [
        ({"provider": "route53"},
         "dns.provider: 'route53' is not allowed; expected 'rfc2136', 'cloudflare' or 'pdns'"),
        ({"provider": "pdns"}, "dns.pdns: required when provider is 'pdns' (server)"),
        ({"provider": "pdns", "pdns": {"server": "pdns.lan:8081"}},
         "dns.pdns.server: 'pdns.lan:8081' is not an http(s) URL "
         "(e.g. 'https://hooks.example.net/alerts')"),
        ({"provider": "pdns", "pdns": {"server": "http://pdns:8081", "sever_id": "a"}},
         "dns.pdns.sever_id: unknown key (did you mean 'server_id'?)"),
        ({"provider": "rfc2136", "pdns": {"server": "http://pdns:8081"}},
         "dns.pdns: only used with provider 'pdns', not 'rfc2136'; remove it"),
        ({"provider": "cloudflare", "zone": "plate.dev"},
         "dns.zone: only used with provider 'rfc2136' ('cloudflare' finds the zone itself); "
         "remove it"),
        ({"provider": "rfc2136", "zone": "example.net"},
         "dns.zone: domain 'stg.plate.dev' is not inside zone 'example.net'; set the zone that "
         "holds the domain (the domain itself or a parent)"),
        ({"provider": "rfc2136", "zone": "tg.plate.dev"},
         "dns.zone: domain 'stg.plate.dev' is not inside zone 'tg.plate.dev'; set the zone that "
         "holds the domain (the domain itself or a parent)"),
        ({"providr": "rfc2136"}, "dns.providr: unknown key (did you mean 'provider'?)"),
    ],
)
def test_a_bad_dns_section_is_refused_with_its_key(stg: dict, dns: dict, expected: str) -> None:
    stg["dns"] = dns
    assert expected in problems(stg)


def test_rfc2136_needs_the_primary_and_key_of_acme(stg: dict) -> None:
    stg["acme"] = {"email": "platform-team@plate.dev", "solver": "dns01",
                   "dns_provider": "cloudflare", "dns_zones": ["stg.plate.dev"]}
    assert problems(stg) == [
        "dns.provider: 'rfc2136' writes to the zone's primary with the TSIG key of "
        "acme.rfc2136; set acme.rfc2136 (nameserver, tsig_key_name, tsig_algorithm)"
    ]


def test_rfc2136_refuses_an_algorithm_external_dns_cannot_sign_with(stg: dict) -> None:
    stg["acme"]["rfc2136"]["tsig_algorithm"] = "HMACMD5"
    assert problems(stg) == [
        "acme.rfc2136.tsig_algorithm: external-dns (dns.provider 'rfc2136') cannot sign with "
        "HMACMD5; use a key of HMACSHA256, HMACSHA512, HMACSHA1"
    ]


def test_dns_belongs_to_the_stack_that_owns_cluster_services(stg: dict) -> None:
    stg["tiers"] = ["applications"]
    assert (
        "dns: external-dns runs in the cluster_services tier, which this stack does not own; "
        "set dns in the stack that owns it, or remove it"
    ) in problems(stg)
    del stg["dns"]
    assert not [p for p in problems(stg) if p.startswith("dns")]
