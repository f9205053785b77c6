"""The `tls` section and the tools' `ca_bundle` settings of the stack configuration (pure).

Verifies: a CA certificate or bundle is accepted only as PEM `CERTIFICATE` blocks (no private key,
no text around, DER inside), each refusal naming its dotted key; `tls.internal_ca` is one
certificate and needs the stack secret `internal_ca_key` (required with it, refused without it,
checked to be one unencrypted PEM private key); a `ca_bundle` where nothing would verify with it
(Fluentd `forward` or plain http, a backup target without an https `url`) is refused; a stack that
owns dev_tools but not cluster_services must name the internal CA.
"""

from __future__ import annotations

import copy

import pytest

from components.config import (
    internal_ca_key_problem,
    parse_platform_config,
    required_secrets,
    secret_conflicts,
)
from tests.engines.test_openbao import TEST_CA
from tests.harness import config_problems as problems
from tests.harness import stack_config

KEY = ("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
       "-----END PRIVATE KEY-----\n")  # the shape only: the start of an EC key, no key
HINT = ("paste the PEM of the CA certificate(s), '-----BEGIN CERTIFICATE-----' ... "
        "'-----END CERTIFICATE-----'")


@pytest.fixture
def stg() -> dict:
    return copy.deepcopy(stack_config("stg"))


def test_the_internal_ca_the_operator_supplies_needs_its_key(stg):
    stg["tls"] = {"internal_ca": {"certificate": TEST_CA}}
    cfg = parse_platform_config(stg)
    assert cfg.tls.internal_ca is not None and cfg.tls.internal_ca.certificate == TEST_CA
    assert required_secrets(cfg)["internal_ca_key"] == (
        "tls.internal_ca is set (cert-manager's `plate-internal-ca` issuer signs with it)")
    assert secret_conflicts(cfg, {"internal_ca_key"}) == []
    # without tls.internal_ca the program generates the CA: a key set for it is a left-over
    plain = parse_platform_config(stack_config("stg"))
    assert "internal_ca_key" not in required_secrets(plain)
    assert secret_conflicts(plain, {"internal_ca_key"}) == [
        "internal_ca_key: set, but tls.internal_ca is not; set tls.internal_ca or remove the "
        "secret (`pulumi config rm internal_ca_key`)"
    ]


@pytest.mark.parametrize(("value", "message"), [
    ("not a certificate", f"not a PEM certificate bundle ({HINT})"),
    (TEST_CA + "trailing words", f"not a PEM certificate bundle ({HINT})"),
    (KEY, "PEM block 1 is a 'PRIVATE KEY', not a CERTIFICATE (never paste a private key here)"),
    (TEST_CA + KEY, "PEM block 2 is a 'PRIVATE KEY', not a CERTIFICATE (never paste a private "
     "key here)"),
    ("-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n",
     f"PEM block 1 is not a DER certificate ({HINT})"),
])
def test_a_ca_bundle_is_pem_certificates_and_nothing_else(stg, value, message):
    stg["dev_tools"]["harbor"]["ca_bundle"] = value
    stg["tls"] = {"ingress_ca_bundle": value}
    assert problems(stg) == [f"dev_tools.harbor.ca_bundle: {message}",
                             f"tls.ingress_ca_bundle: {message}"]


def test_a_bundle_of_several_certificates_is_a_bundle_but_not_an_issuer(stg):
    stg["dev_tools"]["monitoring"].setdefault("alerts", {})["email"] = {
        "to": ["ops@plate.dev"], "sender": "alerts@plate.dev",
        "smarthost": "smtp.lan.plate.dev:587", "ca_bundle": TEST_CA + TEST_CA}
    assert parse_platform_config(stg).dev_tools.monitoring.alerts.email.ca_bundle == (
        TEST_CA + TEST_CA)
    stg["tls"] = {"internal_ca": {"certificate": TEST_CA + TEST_CA}}
    assert problems(stg) == [
        "tls.internal_ca.certificate: one CA certificate, not a bundle (the issuer signs with "
        "this one)"
    ]


def test_a_ca_bundle_where_nothing_verifies_with_it_is_refused(stg):
    output = stg["dev_tools"]["fluentd"]["output"]
    output.update(type="forward", ca_bundle=TEST_CA)
    stg["dev_tools"]["backup"] = {"target": {"bucket": "plate-backups", "ca_bundle": TEST_CA}}
    assert problems(stg) == [
        "dev_tools.fluentd.output.ca_bundle: only for type elasticsearch/opensearch with scheme "
        "https (nothing verifies a certificate otherwise); remove it or set scheme https",
        "dev_tools.backup.target.ca_bundle: only with an https dev_tools.backup.target.url "
        "(AWS S3 has a public certificate); remove it or set the store's https url",
    ]
    output.update(type="opensearch", scheme="https")
    stg["dev_tools"]["backup"]["target"]["url"] = "https://s3.lan.plate.dev"
    cfg = parse_platform_config(stg)
    assert cfg.dev_tools.fluentd.output.ca_bundle == TEST_CA
    assert cfg.dev_tools.backup.target.ca_bundle == TEST_CA


def test_dev_tools_without_cluster_services_must_name_the_internal_ca(stg):
    stg["tiers"] = ["dev_tools", "applications"]
    stg.pop("dns", None)  # external-dns is tier 1's
    assert problems(stg) == [
        "tls.internal_ca: required when the stack owns dev_tools but not cluster_services: set "
        "tls.internal_ca.certificate to the CA the other stack's `plate-internal-ca` issuer "
        "signs with (OpenBao's clients must trust it)"
    ]
    stg["tls"] = {"internal_ca": {"certificate": TEST_CA}}
    cfg = parse_platform_config(stg)
    # the key stays with the stack that runs the issuer
    assert "internal_ca_key" not in required_secrets(cfg)


@pytest.mark.parametrize(("value", "found"), [
    (KEY, None),
    (KEY.replace("PRIVATE KEY", "EC PRIVATE KEY"), None),
    (TEST_CA, "CERTIFICATE"),
    (KEY + KEY, "PRIVATE KEY, PRIVATE KEY"),
    (KEY.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"), "ENCRYPTED PRIVATE KEY"),
    ("secret", "no PEM block"),
])
def test_the_internal_ca_key_is_one_unencrypted_pem_private_key(value, found):
    problem = internal_ca_key_problem(value)
    if found is None:
        assert problem is None
    else:
        assert problem == (
            f"internal_ca_key: not one unencrypted PEM private key (found {found}); set the key "
            "of tls.internal_ca.certificate, e.g. `pulumi config set --secret internal_ca_key "
            "< ca.key`"
        )
