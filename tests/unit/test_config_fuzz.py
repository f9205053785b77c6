"""Bad input, tried systematically: Hypothesis drives the config model with generated stack configs.

Each invalid case starts from a committed stack file and applies one mutation — a wrong type, an
unknown or misspelt key, a malformed or overlapping IPv4 range, a bad host name or e-mail, a
missing required key, an out-of-range number — and asserts that it is rejected with a ConfigError
(a pulumi.RunError: printed without a traceback) naming the mutated key path. A sample of cases
runs the whole program to show no resource is registered. Generated valid configs evaluate.
"""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config import (
    ConfigError,
    PlatformConfig,
    _unwrap_model,
    parse_platform_config,
)
from components.config import _dotted as dotted
from tests.engines.test_openbao import TEST_CA
from tests.harness import Recording, run_program, stack_config

BASES = {env: stack_config(env) for env in ("stg", "prod")}


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a config (mapping keys and list indexes)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out.extend(paths(value, (*prefix, i)))
    return out


def get(node, path):
    for part in path:
        node = node[part]
    return node


def put(node, path, value):
    get(node, path[:-1])[path[-1]] = value


def known_keys(path: tuple) -> set[str]:
    """Keys the model allows in the mapping at `path` (for telling a misspelling from a key)."""
    model: Any = PlatformConfig
    for part in path:
        if isinstance(part, int):
            continue
        model = _unwrap_model(model.model_fields[part].annotation)
        if model is None:
            return set()
    return set(model.model_fields)


@st.composite
def invalid_configs(draw) -> tuple[str, dict, str]:
    """(env, config, dotted path that must be named in the errors)."""
    env = draw(st.sampled_from(sorted(BASES)))
    cfg = copy.deepcopy(BASES[env])
    kind = draw(st.sampled_from(
        ["wrong_type", "unknown_key", "misspelt_key", "bad_range", "overlap", "bad_host",
         "bad_email", "missing", "out_of_range"]
    ))
    if kind == "wrong_type":
        leaves = [p for p in paths(cfg) if isinstance(get(cfg, p), (str, bool, int))
                  and not isinstance(p[-1], int) and p != ("chart_versions",)]
        path = draw(st.sampled_from(leaves))
        old = get(cfg, path)
        new = draw(st.sampled_from(
            [[1], {"x": 1}, 3.5] + ([42] if isinstance(old, (str, bool)) else ["7"])
        ))
        put(cfg, path, new)
        return env, cfg, dotted(path)
    if kind in ("unknown_key", "misspelt_key"):
        mappings = [()] + [p for p in paths(cfg) if isinstance(get(cfg, p), dict)
                           and p[-1] != "chart_versions"]
        where = draw(st.sampled_from(mappings))
        allowed = known_keys(where)
        if kind == "unknown_key":
            key = draw(st.from_regex(r"\A[a-z][a-z_]{2,14}\Z").filter(lambda k: k not in allowed))
        else:
            base = draw(st.sampled_from(sorted(allowed)))
            i = draw(st.integers(0, len(base) - 1))
            key = base[:i] + base[i + 1:] if draw(st.booleans()) else base[:i] + "x" + base[i:]
            if key in allowed or not key:
                key = base + "s"
        get(cfg, where)[key] = 1
        return env, cfg, dotted((*where, key))
    if kind == "bad_range":
        octet = st.integers(0, 400)
        bad = draw(st.one_of(
            st.builds(lambda a, b: f"10.{a}.{b}.300/32", octet, octet),
            st.builds(lambda a: f"10.0.0.{a}-10.0.0.{a - 1}", st.integers(1, 255)),
            st.builds(lambda p: f"10.0.0.1/{p}", st.integers(33, 99)),
            st.from_regex(r"\A[a-z]{1,8}\Z"),
        ))
        cfg["metallb"]["addresses"].append(bad)
        return env, cfg, f"metallb.addresses[{len(cfg['metallb']['addresses']) - 1}]"
    if kind == "overlap":
        first = draw(st.integers(0, 200))
        length = draw(st.integers(0, 40))
        inner = draw(st.integers(first, first + length))
        cfg["metallb"]["addresses"] = [f"172.16.5.{first}-172.16.5.{first + length}",
                                       f"172.16.5.{inner}/32"]
        return env, cfg, "metallb.addresses[1]"
    if kind == "bad_host":
        path = draw(st.sampled_from([("domain",), ("dev_tools", "argocd", "host"),
                                     ("dev_tools", "harbor", "host"), ("nfs", "server")]))
        put(cfg, path, draw(st.sampled_from(["UPPER.case", "-lead.example.net", "a..b", "sp ace",
                                            "x_y.example.net", "ends-.example.net"])))
        return env, cfg, dotted(path)
    if kind == "bad_email":
        cfg["acme"]["email"] = draw(st.sampled_from(
            ["no-at-sign", "a@b", "@plate.dev", "ops@example.com", "ops@@plate.dev"]))
        return env, cfg, "acme.email"
    if kind == "missing":
        path = draw(st.sampled_from([("environment",), ("domain",), ("acme",), ("gitops",),
                                     ("acme", "email"), ("gitops", "repo_url"), ("nfs", "path"),
                                     ("metallb", "addresses"), ("dev_tools", "fluentd"),
                                     ("dev_tools", "fluentd", "output", "port")]))
        del get(cfg, path[:-1])[path[-1]]
        return env, cfg, dotted(path)
    path, value = draw(st.sampled_from([
        (("dev_tools", "argocd", "replicas"), 0), (("dev_tools", "harbor", "replicas"), 11),
        (("dev_tools", "monitoring", "prometheus_replicas"), -1),
        (("dev_tools", "fluentd", "output", "port"), 0),
        (("dev_tools", "fluentd", "output", "port"), 65536),
        (("dev_tools", "openbao", "replicas"), 4),
    ]))
    put(cfg, path, value)
    return env, cfg, dotted(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_configs())
def test_invalid_configs_are_rejected_naming_the_key(case):
    env, cfg, path = case
    with pytest.raises(ConfigError) as exc:
        parse_platform_config(cfg)
    assert isinstance(exc.value, pulumi.RunError)  # printed by the CLI without a traceback
    assert any(p == path or p.startswith(path + ":") or p.startswith(path + ".")
               or p.startswith(path + "[") for p in exc.value.problems), (path, exc.value.problems)
    for problem in exc.value.problems:
        assert ": " in problem and "Traceback" not in problem


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_configs())
def test_invalid_configs_register_no_resource(case):
    env, cfg, _ = case
    recording = Recording()
    with pytest.raises(ConfigError):
        run_program(env, cfg, recording=recording)
    assert recording.resources == []


@st.composite
def valid_configs(draw) -> tuple[str, dict]:
    env = draw(st.sampled_from(sorted(BASES)))
    cfg = copy.deepcopy(BASES[env])
    tools = cfg["dev_tools"]
    tools["argocd"]["replicas"] = draw(st.integers(1, 10))
    tools["harbor"]["registry_size"] = f"{draw(st.integers(1, 2000))}Gi"
    retention = f"{draw(st.integers(1, 400))}{draw(st.sampled_from('hdwy'))}"
    tools["monitoring"]["prometheus_retention"] = retention
    tools["openbao"]["replicas"] = draw(st.sampled_from([1, 3, 5]))
    starts = sorted(draw(st.sets(st.integers(0, 15), min_size=1, max_size=4)))
    cfg["metallb"]["addresses"] = [f"10.99.{s}.0/28" if draw(st.booleans())
                                   else f"10.99.{s}.1-10.99.{s}.{draw(st.integers(1, 254))}"
                                   for s in starts]
    cfg["ingress"]["load_balancer_ip"] = f"10.99.{starts[0]}.1"  # inside the first range
    cfg["tiers"] = draw(st.sampled_from([["cluster_services", "dev_tools", "applications"],
                                         ["applications"], ["cluster_services"],
                                         ["dev_tools", "applications"]]))
    if "cluster_services" not in cfg["tiers"]:
        cfg.pop("dns", None)  # external-dns belongs to the stack that owns cluster_services
        # the other stack's internal CA, which OpenBao's clients here must trust
        cfg["tls"] = {"internal_ca": {"certificate": TEST_CA}}
    return env, cfg


# each example evaluates the whole program (~150 resources, about a second): 4 keep the suite
# under a minute
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_configs())
def test_valid_generated_configs_evaluate(case):
    env, cfg = case
    parsed = parse_platform_config(cfg)
    recording = run_program(env, cfg)
    assert recording.resources
    if parsed.owns("applications"):
        root = recording.named("Application/root-app")
        assert not [r.name for r in recording.resources if root.urn in r.dependencies]
        assert recording.deps("Application/root-app")  # it waits (for the tiers it has)

