"""Pure tests of the typed stack configuration (no Pulumi runtime).

Verifies: both committed stack files validate and differ where they must; every problem of a bad
config is reported at once with its dotted key path and exact message; unknown keys get a
did-you-mean; IPv4 ranges, host names, e-mails, semver, sizes are checked; cross-field rules
(production issuer, pinned GitOps revision, tier requirements); secrets are only top-level keys.
"""

from __future__ import annotations

import copy

import pytest

from components.config import (
    ConfigError,
    parse_ipv4_range,
    parse_platform_config,
    split_stack_config,
)
from tests.engines.test_openbao import TEST_CA
from tests.harness import config_problems as problems
from tests.harness import stack_config


@pytest.fixture
def stg() -> dict:
    return copy.deepcopy(stack_config("stg"))


@pytest.fixture
def prod() -> dict:
    return copy.deepcopy(stack_config("prod"))


def test_committed_stack_files_validate_and_differ():
    stg = parse_platform_config(stack_config("stg"))
    prod = parse_platform_config(stack_config("prod"))
    assert (stg.environment, stg.production, stg.acme_server) == ("stg", False, "production")
    assert (prod.environment, prod.production, prod.acme_server) == ("prod", True, "production")
    assert stg.domain == "stg.plate.dev" and prod.domain == "plate.dev"
    assert stg.dev_tools.openbao.replicas == 1 and prod.dev_tools.openbao.replicas == 3
    assert stg.dev_tools.monitoring.prometheus_retention == "7d"
    assert prod.dev_tools.monitoring.prometheus_retention == "30d"
    assert stg.nfs.reclaim_policy == "Delete" and prod.nfs.reclaim_policy == "Retain"
    assert stg.apps_path == "environments/argocd/apps/stg"
    assert prod.apps_path == "environments/argocd/apps/prod"
    assert prod.gitops.target_revision == "v1.0.0"


def test_every_problem_is_reported_at_once_with_its_path(stg):
    stg["dev_tools"]["harbor"]["replcias"] = 2
    stg["metallb"]["addresses"].append("10.0.0.300/32")
    stg["acme"]["email"] = "ops@example.com"
    stg["dev_tools"]["openbao"]["replicas"] = 2
    stg["production"] = "yes"
    stg["tires"] = ["dev_tools"]
    assert problems(stg) == [
        "acme.email: 'ops@example.com': Let's Encrypt rejects contact addresses at example.com; "
        "use a real mailbox",
        "dev_tools.harbor.replcias: unknown key (did you mean 'replicas'?)",
        "dev_tools.openbao.replicas: 2 is not allowed; expected 1, 3 or 5",
        "metallb.addresses[1]: '10.0.0.300/32' is not an IPv4 range (use 'A.B.C.D-E.F.G.H' or a "
        "CIDR such as '192.168.10.240/28')",
        "production: expected true or false, got str 'yes'",
        "tires: unknown key (did you mean 'tiers'?)",
    ]


def test_unknown_key_without_close_match_lists_known_keys(stg):
    stg["cluster"]["zzz"] = 1
    assert problems(stg) == [
        "cluster.zzz: unknown key (known keys: kube_context, kubelet_insecure_tls, metrics_server)"
    ]


def test_missing_required_keys(stg):
    del stg["acme"]
    del stg["gitops"]["repo_url"]
    assert problems(stg) == [
        "acme: required key is missing",
        "gitops.repo_url: required key is missing",
    ]


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        (["10.0.0.10-10.0.0.1"], "metallb.addresses[0]: '10.0.0.10-10.0.0.1': range start "
         "10.0.0.10 is after its end 10.0.0.1"),
        (["10.0.0.0/24", "10.0.0.128/25"], "metallb.addresses[1]: '10.0.0.128/25' overlaps "
         "addresses[0] '10.0.0.0/24'"),
        (["10.0.1.0/28", "10.0.0.250-10.0.1.3"], "metallb.addresses[1]: '10.0.0.250-10.0.1.3' "
         "overlaps addresses[0] '10.0.1.0/28'"),
        (["10.0.0.1/24"], "metallb.addresses[0]: '10.0.0.1/24' is not an IPv4 range (use "
         "'A.B.C.D-E.F.G.H' or a CIDR such as '192.168.10.240/28')"),
        ([], "metallb.addresses: List should have at least 1 item after validation, not 0"),
    ],
)
def test_metallb_ranges(stg, addresses, message):
    stg["metallb"]["addresses"] = addresses
    assert problems(stg) == [message]


def test_adjacent_ranges_do_not_overlap(stg):
    stg["metallb"]["addresses"] = ["10.0.0.0/28", "10.0.0.16-10.0.0.20"]
    stg["ingress"]["load_balancer_ip"] = "10.0.0.20"
    assert parse_platform_config(stg).metallb.addresses == ["10.0.0.0/28", "10.0.0.16-10.0.0.20"]


def test_ipv4_range_bounds():
    first, last = parse_ipv4_range("192.168.10.240/28")
    assert (str(first), str(last)) == ("192.168.10.240", "192.168.10.255")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("domain",), "plate", "domain: 'plate' is not a fully qualified host name (e.g. "
         "'stg.plate.example.net')"),
        (("dev_tools", "argocd", "host"), "Argo_CD", "dev_tools.argocd.host: 'Argo_CD' is not a "
         "DNS label (lower-case letters, digits and '-', 1-63 characters)"),
        (("acme", "email"), "not-an-email", "acme.email: 'not-an-email' is not an e-mail address"),
        (("dev_tools", "harbor", "registry_size"), "50GB", "dev_tools.harbor.registry_size: "
         "'50GB' is not a storage size (e.g. '10Gi'; units Ki, Mi, Gi, Ti)"),
        (("dev_tools", "monitoring", "prometheus_retention"), "7 days",
         "dev_tools.monitoring.prometheus_retention: '7 days' is not a retention period (e.g. "
         "'15d'; units h, d, w, y)"),
        (("dev_tools", "fluentd", "output", "port"), 70000, "dev_tools.fluentd.output.port: "
         "Input should be less than or equal to 65535"),
        (("dev_tools", "argocd", "replicas"), "2", "dev_tools.argocd.replicas: expected a whole "
         "number, got str '2'"),
        (("nfs", "path"), "srv/nfs", "nfs.path: 'srv/nfs' is not an absolute export path (e.g. "
         "'/srv/nfs/k8s')"),
        (("nfs", "server"), "nfs server", "nfs.server: 'nfs server' is neither an IPv4 address "
         "nor a host name"),
        (("gitops", "repo_url"), "github.com/x", "gitops.repo_url: 'github.com/x' is not a git "
         "URL (https://host/org/repo.git or git@host:org/repo)"),
        (("chart_versions",), {"harbor": "1.19"}, "chart_versions.harbor: '1.19' is not an exact "
         "semantic version (e.g. '1.19.1')"),
        (("chart_versions",), {"habror": "1.19.2"}, "chart_versions.habror: unknown key (did you "
         "mean 'harbor'?)"),
        (("acme", "solver"), "tls-alpn", "acme.solver: 'tls-alpn' is not allowed; expected "
         "'http01' or 'dns01'"),
    ],
)
def test_field_checks(stg, path, value, message):
    target = stg
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert problems(stg) == [message]


def test_production_must_use_letsencrypt_production_and_a_pinned_revision(prod):
    prod["acme"]["server"] = "staging"
    prod["gitops"]["target_revision"] = "main"
    assert problems(prod) == [
        "acme.server: a production stack must use Let's Encrypt 'production' (staging "
        "certificates are not trusted by browsers); remove the key or set 'production'",
        "gitops.target_revision: a production stack must pin a release tag or a 40-character "
        "commit, not 'main' (e.g. 'v1.4.0')",
    ]


def test_production_accepts_a_commit_pin_and_defaults_to_production_issuer(prod):
    del prod["acme"]["server"]
    prod["gitops"]["target_revision"] = "0123456789abcdef0123456789abcdef01234567"
    assert parse_platform_config(prod).acme_server == "production"


def test_every_stack_uses_the_production_issuer_unless_trying_a_new_domain(stg):
    """Staging certificates are trusted by no browser, container runtime or health check: a
    registry served with one cannot be pulled from. Staging is for trying a new domain only."""
    assert parse_platform_config(stg).acme_server == "production"
    stg["acme"]["server"] = "staging"
    assert parse_platform_config(stg).acme_server == "staging"


def test_the_ingress_address_must_lie_in_the_metallb_pool(stg):
    stg["ingress"]["load_balancer_ip"] = "10.20.1.5"
    assert problems(stg) == [
        "ingress.load_balancer_ip: 10.20.1.5 is not inside metallb.addresses "
        "['10.20.0.200-10.20.0.219']; pick a free address of the pool"
    ]
    stg["ingress"]["load_balancer_ip"] = "10.20.0.300"
    assert problems(stg) == [
        "ingress.load_balancer_ip: '10.20.0.300' is not an IPv4 address (e.g. '10.20.0.200')"
    ]
    del stg["ingress"]["load_balancer_ip"]
    assert problems(stg) == [
        "ingress.load_balancer_ip: required when ingress.controller is 'traefik' (an address "
        "inside metallb.addresses ['10.20.0.200-10.20.0.219']), or set ingress.controller: "
        "external"
    ]
    stg["ingress"]["controller"] = "external"  # a controller already runs: no address needed
    assert parse_platform_config(stg).ingress.controller == "external"
    stg["ingress"]["controller"] = "nginx-ingress"
    assert problems(stg) == [
        "ingress.controller: 'nginx-ingress' is not allowed; expected 'traefik' or 'external'"
    ]


def test_openbao_seal_settings(stg):
    stg["dev_tools"]["openbao"].update(seal="shamir", unseal_key_secret="my-key")
    stg["dev_tools"]["openbao"]["environments"] = ["stg", "stg"]
    assert problems(stg) == [
        "dev_tools.openbao.unseal_key_secret: only used with seal 'static'; remove it or set "
        "dev_tools.openbao.seal: static",
        "dev_tools.openbao.environments: an environment is listed twice",
    ]


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("0123456789abcdef" * 4, True),
        ("A" * 43 + "=", True),  # 44 base64 characters: 32 bytes
        ("0123456789abcdef" * 4 + "\n", False),  # the server reads the file verbatim
        ("0123456789abcdef" * 2, False),
        ("not a key", False),
    ],
)
def test_operator_supplied_unseal_key_must_be_32_bytes(key, ok):
    from components.config import unseal_key_problem

    problem = unseal_key_problem(key)
    assert (problem is None) == ok
    if not ok:
        assert problem.startswith("openbao_unseal_key: not a 32-byte key (")



def test_tier_requirements(stg):
    del stg["metallb"]
    del stg["dev_tools"]
    assert problems(stg) == [
        "metallb: required when the stack owns the cluster_services tier",
        "dev_tools: required when the stack owns the dev_tools tier",
    ]
    stg["tiers"] = ["applications"]
    del stg["dns"]  # external-dns belongs to the stack that owns cluster_services
    # the other stack's internal CA (the apps' SecretStores verify OpenBao against it)
    stg["tls"] = {"internal_ca": {"certificate": TEST_CA}}
    cfg = parse_platform_config(stg)
    assert cfg.owns("applications") and not cfg.owns("dev_tools")


def test_dns01_needs_zones_and_rfc2136_its_server(stg):
    stg["acme"]["dns_zones"] = []
    assert problems(stg) == [
        "acme.dns_zones: required when solver is 'dns01' (e.g. ['example.net'])"
    ]
    stg["acme"]["dns_zones"] = ["stg.plate.dev"]
    del stg["acme"]["rfc2136"]
    assert problems(stg) == [
        "acme.rfc2136: required when dns_provider is 'rfc2136' (nameserver, tsig_key_name)"
    ]


def test_rfc2136_settings_are_checked(stg):
    stg["acme"]["rfc2136"].update(nameserver="ns1", tsig_algorithm="SHA256")
    assert problems(stg) == [
        "acme.rfc2136.nameserver: 'ns1' is not host:port (e.g. 'ns1.lan.example.net:53')",
        "acme.rfc2136.tsig_algorithm: 'SHA256' is not allowed; expected 'HMACSHA256', "
        "'HMACSHA512', 'HMACSHA1' or 'HMACMD5'",
    ]


def test_http01_through_a_private_ingress_address_is_refused(stg):
    """Let's Encrypt validates HTTP-01 from the internet: through 10.20.0.200 every challenge
    fails and Traefik serves its self-signed default certificate."""
    stg["acme"] = {"email": "platform-team@plate.dev", "solver": "http01"}
    del stg["dns"]  # its rfc2136 provider would need acme.rfc2136
    assert problems(stg) == [
        "acme.solver: http01 needs Let's Encrypt to reach the ingress from the internet, but "
        "ingress.load_balancer_ip 10.20.0.200 is private; use solver 'dns01' (dns_provider, "
        "dns_zones) or set acme.public_address to the public IPv4 that forwards ports 80 and 443 "
        "to it"
    ]
    stg["acme"]["public_address"] = "1.2.3.4"
    assert parse_platform_config(stg).acme.public_address == "1.2.3.4"


def test_http01_without_a_fixed_address_falls_back_to_the_metallb_ranges(stg):
    """An external controller takes its address from MetalLB: every range private, so is it."""
    stg["acme"] = {"email": "platform-team@plate.dev", "solver": "http01"}
    del stg["dns"]
    stg["ingress"] = {"controller": "external"}
    stg["metallb"]["addresses"] = ["10.20.0.200-10.20.0.210", "192.168.7.0/28"]
    assert problems(stg) == [
        "acme.solver: http01 needs Let's Encrypt to reach the ingress from the internet, but the "
        "ingress address comes from metallb.addresses ['10.20.0.200-10.20.0.210', "
        "'192.168.7.0/28'], all private; use solver 'dns01' (dns_provider, dns_zones) or set "
        "acme.public_address to the public IPv4 that forwards ports 80 and 443 to it"
    ]
    # one public range: the address may be public
    stg["metallb"]["addresses"].append("1.2.3.0/29")
    assert parse_platform_config(stg).acme.solver == "http01"


@pytest.mark.parametrize("address", ["10.20.0.1", "100.64.1.1", "203.0.113.10", "127.0.0.1"])
def test_a_public_address_must_be_public(stg, address):
    """Private, shared (CGNAT), documentation and loopback addresses are not reachable from the
    internet (`ipaddress.IPv4Address.is_global`)."""
    stg["acme"] = {"email": "platform-team@plate.dev", "solver": "http01",
                   "public_address": address}
    del stg["dns"]
    assert problems(stg) == [
        f"acme.public_address: {address} is not a public IPv4 address; set the internet-facing "
        "address that forwards ports 80 and 443 to the ingress, or use acme.solver 'dns01' and "
        "remove it"
    ]


def test_chart_version_override_applies_to_that_chart_only(stg):
    stg["chart_versions"] = {"harbor": "1.19.2"}
    cfg = parse_platform_config(stg)
    assert cfg.chart("harbor").version == "1.19.2"
    assert cfg.chart("openbao").version == "0.29.2"


def test_secrets_must_be_encrypted_top_level_keys():
    flat = {
        "plate-platform:environment": "stg",
        "plate-platform:harbor_admin_password": "hunter2",
        "plate-platform:grafana_admin_password": "s3cret",
        "plate-platform:dev_tools": '{"argocd": {"replicas": 1}}',
        "other:key": "ignored",
    }
    secret = {"plate-platform:grafana_admin_password", "plate-platform:dev_tools"}
    data, present, found = split_stack_config("plate-platform", flat, secret)
    assert data == {"environment": "stg"}
    assert present == {"harbor_admin_password", "grafana_admin_password"}
    assert found == [
        "harbor_admin_password: must be encrypted; run `pulumi config set --secret "
        "harbor_admin_password <value>`",
        "dev_tools: holds a secret value, but only these keys may be secrets: "
        "grafana_admin_password, harbor_admin_password, fluentd_output_password, "
        "cloudflare_api_token, rfc2136_tsig_secret, pdns_api_key, gitops_repo_token, "
        "openbao_unseal_key, alertmanager_smtp_password, alertmanager_slack_webhook_url, "
        "alertmanager_webhook_token, "
        "backup_s3_access_key_id, backup_s3_secret_access_key, velero_repository_password, "
        "identity_argocd_client_secret, identity_grafana_client_secret, "
        "identity_harbor_client_secret, identity_openbao_client_secret, "
        "identity_proxy_client_secret, identity_proxy_cookie_secret, internal_ca_key",
    ]


def test_config_error_message_lists_every_problem(stg):
    stg["tires"] = []
    stg["domain"] = "x"
    with pytest.raises(ConfigError) as exc:
        parse_platform_config(stg)
    assert str(exc.value) == (
        "invalid stack configuration (2 problems):\n"
        "  domain: 'x' is not a fully qualified host name (e.g. 'stg.plate.example.net')\n"
        "  tires: unknown key (did you mean 'tiers'?)"
    )
