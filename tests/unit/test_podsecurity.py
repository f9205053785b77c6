"""tooling.podsecurity: the Pod Security Standards (v1.34, "latest") as the admission controller
enforces them.

Verifies that:
- a fully compliant restricted pod (init, regular and ephemeral containers, every allowed volume
  type, safe sysctls, allowed AppArmor / SELinux / seccomp settings) passes all three levels;
- a default pod with no security settings passes baseline and fails restricted with exact lines;
- for each control, one pod that breaks exactly that control yields the exact message list at
  baseline and at restricted (restricted-only controls yield nothing at baseline);
- pod-level vs container-level precedence for runAsNonRoot, runAsUser and seccompProfile;
- the allow-lists (baseline capabilities, safe sysctls, SELinux types, restricted volume types)
  accept every listed value, and the Windows exemptions and restricted-overrides-baseline rules
  match the controller;
- privileged reports nothing, an unknown level is rejected;
- pod_template finds the pod of every workload kind and returns None for kinds without a pod.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tooling.podsecurity import pod_template, violations

Mutation = Callable[[dict, dict], object]


def compliant() -> tuple[dict, dict]:
    """(metadata, spec) of a pod that satisfies restricted, with every allowed knob exercised."""

    def hardened() -> dict:
        return {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "procMount": "Default",
        }

    metadata = {
        "name": "ok",
        "annotations": {
            "container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
            "container.apparmor.security.beta.kubernetes.io/init": "localhost/custom",
        },
    }
    spec = {
        "hostNetwork": False,
        "hostPID": False,
        "hostIPC": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
            "appArmorProfile": {"type": "RuntimeDefault"},
            "seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"},
            "windowsOptions": {"hostProcess": False},
            "sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}],
        },
        "initContainers": [{"name": "init", "image": "busybox", "securityContext": hardened()}],
        "containers": [
            {
                "name": "app",
                "image": "nginx",
                "ports": [{"containerPort": 8080, "hostPort": 0}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                "readinessProbe": {"tcpSocket": {"port": 8080, "host": ""}},
                "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                "securityContext": {
                    **hardened(),
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"},
                    "appArmorProfile": {"type": "Localhost", "localhostProfile": "p"},
                    "runAsUser": 1001,
                },
            }
        ],
        "ephemeralContainers": [
            {"name": "debug", "image": "busybox", "securityContext": hardened()}
        ],
        "volumes": [
            {"name": "cm", "configMap": {"name": "cm"}},
            {"name": "csi", "csi": {"driver": "nfs.csi.k8s.io"}},
            {"name": "dapi", "downwardAPI": {"items": []}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            {"name": "img", "image": {"reference": "registry/data:1"}},
            {"name": "pvc", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "proj", "projected": {"sources": []}},
            {"name": "sec", "secret": {"secretName": "s"}},
        ],
    }
    return metadata, spec


def container(spec: dict, name: str = "app") -> dict:
    everything = spec["initContainers"] + spec["containers"] + spec["ephemeralContainers"]
    return next(c for c in everything if c["name"] == name)


def csc(spec: dict, name: str = "app") -> dict:
    """The securityContext of one container of the spec."""
    return container(spec, name)["securityContext"]


def psc(spec: dict) -> dict:
    """The pod-level securityContext of the spec."""
    return spec["securityContext"]


def broken(mutate: Mutation) -> tuple[dict, dict]:
    metadata, spec = compliant()
    mutate(metadata, spec)
    return metadata, spec


def test_compliant_pod_passes_every_level() -> None:
    metadata, spec = compliant()
    for level in ("privileged", "baseline", "restricted"):
        assert violations(metadata, spec, level) == [], level


def test_default_pod_passes_baseline_and_fails_restricted() -> None:
    spec = {"containers": [{"name": "app", "image": "nginx"}]}
    assert violations({}, spec, "baseline") == []
    assert violations({}, spec, "restricted") == [
        "restricted: container 'app' must set securityContext.allowPrivilegeEscalation=false",
        "restricted: container 'app' must set securityContext.capabilities.drop=['ALL']",
        "restricted: pod or container 'app' must set securityContext.runAsNonRoot=true",
        "restricted: pod or container 'app' must set securityContext.seccompProfile.type to "
        "'RuntimeDefault' or 'Localhost'",
    ]


BOTH = object()  # marker: the restricted list equals the baseline list

# (id, mutation of the compliant pod, expected at baseline, expected at restricted)
CASES: list[tuple[str, Mutation, list[str], object]] = [
    # --- baseline controls ---
    (
        "hostProcess-pod",
        lambda m, s: psc(s)["windowsOptions"].update(hostProcess=True),
        ["baseline: pod must not set securityContext.windowsOptions.hostProcess=true"],
        BOTH,
    ),
    (
        "hostProcess-container",
        lambda m, s: csc(s).update(windowsOptions={"hostProcess": True}),
        ["baseline: container 'app' must not set securityContext.windowsOptions.hostProcess=true"],
        BOTH,
    ),
    (
        "hostNetwork",
        lambda m, s: s.update(hostNetwork=True),
        ["baseline: pod must not set hostNetwork=true"],
        BOTH,
    ),
    (
        "hostPID",
        lambda m, s: s.update(hostPID=True),
        ["baseline: pod must not set hostPID=true"],
        BOTH,
    ),
    (
        "hostIPC",
        lambda m, s: s.update(hostIPC=True),
        ["baseline: pod must not set hostIPC=true"],
        BOTH,
    ),
    (
        "privileged",
        lambda m, s: csc(s).update(privileged=True),
        ["baseline: container 'app' must not set securityContext.privileged=true"],
        BOTH,
    ),
    (
        "privileged-ephemeral",
        lambda m, s: csc(s, "debug").update(privileged=True),
        ["baseline: container 'debug' must not set securityContext.privileged=true"],
        BOTH,
    ),
    (
        "capabilities-add",
        lambda m, s: csc(s)["capabilities"].update(add=["SYS_ADMIN", "NET_RAW", "CHOWN"]),
        [
            "baseline: container 'app' must not include 'NET_RAW', 'SYS_ADMIN' in "
            "securityContext.capabilities.add"
        ],
        [
            "restricted: container 'app' must not include 'CHOWN', 'NET_RAW', 'SYS_ADMIN' in "
            "securityContext.capabilities.add"
        ],
    ),
    (
        "hostPath",
        lambda m, s: s["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
        ["baseline: volume 'host' must not use hostPath"],
        ["restricted: volume 'host' must not use restricted volume type 'hostPath'"],
    ),
    (
        "hostPort",
        lambda m, s: container(s, "init").update(ports=[{"containerPort": 80, "hostPort": 80}]),
        ["baseline: container 'init' must not use hostPort 80"],
        BOTH,
    ),
    (
        "hostPorts-several",
        lambda m, s: container(s)["ports"].extend([{"hostPort": 443}, {"hostPort": 80}]),
        ["baseline: container 'app' must not use hostPorts 80, 443"],
        BOTH,
    ),
    (
        "appArmor-pod",
        lambda m, s: psc(s)["appArmorProfile"].update(type="Unconfined"),
        ["baseline: pod must not set securityContext.appArmorProfile.type to 'Unconfined'"],
        BOTH,
    ),
    (
        "appArmor-container",
        lambda m, s: csc(s)["appArmorProfile"].update(type="Unconfined"),
        [
            "baseline: container 'app' must not set securityContext.appArmorProfile.type to "
            "'Unconfined'"
        ],
        BOTH,
    ),
    (
        "appArmor-annotation",
        lambda m, s: m["annotations"].update(
            {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
        ),
        [
            "baseline: annotation 'container.apparmor.security.beta.kubernetes.io/app' must not "
            "set AppArmor profile 'unconfined'"
        ],
        BOTH,
    ),
    (
        "seLinux-type",
        lambda m, s: csc(s).update(seLinuxOptions={"type": "spc_t"}),
        ["baseline: container 'app' must not set securityContext.seLinuxOptions.type to 'spc_t'"],
        BOTH,
    ),
    (
        "seLinux-user-role",
        lambda m, s: psc(s)["seLinuxOptions"].update(user="system_u", role="system_r"),
        [
            "baseline: pod must not set securityContext.seLinuxOptions.user",
            "baseline: pod must not set securityContext.seLinuxOptions.role",
        ],
        BOTH,
    ),
    (
        "procMount",
        lambda m, s: csc(s, "init").update(procMount="Unmasked"),
        ["baseline: container 'init' must not set securityContext.procMount to 'Unmasked'"],
        BOTH,
    ),
    (
        "seccomp-pod-unconfined",
        lambda m, s: psc(s)["seccompProfile"].update(type="Unconfined"),
        ["baseline: pod must not set securityContext.seccompProfile.type to 'Unconfined'"],
        ["restricted: pod must not set securityContext.seccompProfile.type to 'Unconfined'"],
    ),
    (
        "seccomp-container-unconfined",
        lambda m, s: csc(s).update(seccompProfile={"type": "Unconfined"}),
        [
            "baseline: container 'app' must not set securityContext.seccompProfile.type to "
            "'Unconfined'"
        ],
        [
            "restricted: container 'app' must not set securityContext.seccompProfile.type to "
            "'Unconfined'"
        ],
    ),
    (
        "sysctls",
        lambda m, s: psc(s)["sysctls"].append({"name": "kernel.msgmax", "value": "1"}),
        ["baseline: pod must not set forbidden sysctl 'kernel.msgmax' in securityContext.sysctls"],
        BOTH,
    ),
    (
        "probe-host",
        lambda m, s: container(s)["livenessProbe"]["httpGet"].update(host="10.0.0.1"),
        ["baseline: container 'app' must not set livenessProbe.httpGet.host (set to '10.0.0.1')"],
        BOTH,
    ),
    (
        "lifecycle-host",
        lambda m, s: container(s)["lifecycle"].update(
            postStart={"tcpSocket": {"port": 1, "host": "node"}}
        ),
        [
            "baseline: container 'app' must not set lifecycle.postStart.tcpSocket.host "
            "(set to 'node')"
        ],
        BOTH,
    ),
    # --- restricted controls ---
    (
        "volume-type",
        lambda m, s: s["volumes"].append({"name": "data", "nfs": {"server": "n", "path": "/"}}),
        [],
        ["restricted: volume 'data' must not use restricted volume type 'nfs'"],
    ),
    (
        "allowPrivilegeEscalation-unset",
        lambda m, s: csc(s).pop("allowPrivilegeEscalation"),
        [],
        ["restricted: container 'app' must set securityContext.allowPrivilegeEscalation=false"],
    ),
    (
        "allowPrivilegeEscalation-true",
        lambda m, s: csc(s, "debug").update(allowPrivilegeEscalation=True),
        [],
        ["restricted: container 'debug' must set securityContext.allowPrivilegeEscalation=false"],
    ),
    (
        "runAsNonRoot-unset",
        lambda m, s: psc(s).pop("runAsNonRoot"),
        [],
        [
            "restricted: pod or container 'init' must set securityContext.runAsNonRoot=true",
            "restricted: pod or container 'app' must set securityContext.runAsNonRoot=true",
            "restricted: pod or container 'debug' must set securityContext.runAsNonRoot=true",
        ],
    ),
    (
        "runAsNonRoot-container-false",
        lambda m, s: csc(s).update(runAsNonRoot=False),
        [],
        ["restricted: container 'app' must not set securityContext.runAsNonRoot=false"],
    ),
    (
        "runAsUser-pod-0",
        lambda m, s: psc(s).update(runAsUser=0),
        [],
        ["restricted: pod must not set securityContext.runAsUser=0"],
    ),
    (
        "runAsUser-container-0",
        lambda m, s: csc(s, "init").update(runAsUser=0),
        [],
        ["restricted: container 'init' must not set securityContext.runAsUser=0"],
    ),
    (
        "seccomp-unset",
        lambda m, s: [psc(s).pop("seccompProfile"), csc(s).pop("seccompProfile")],
        [],
        [
            f"restricted: pod or container '{name}' must set securityContext.seccompProfile.type "
            "to 'RuntimeDefault' or 'Localhost'"
            for name in ("init", "app", "debug")
        ],
    ),
    (
        "capabilities-drop",
        lambda m, s: csc(s, "init")["capabilities"].update(drop=["NET_RAW"]),
        [],
        ["restricted: container 'init' must set securityContext.capabilities.drop=['ALL']"],
    ),
    (
        "capabilities-add-default",
        lambda m, s: csc(s)["capabilities"].update(add=["NET_BIND_SERVICE", "KILL"]),
        [],
        ["restricted: container 'app' must not include 'KILL' in securityContext.capabilities.add"],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "baseline", "restricted"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_control(mutate: Mutation, baseline: list[str], restricted: object) -> None:
    metadata, spec = broken(mutate)
    assert violations(metadata, spec, "privileged") == []
    assert violations(metadata, spec, "baseline") == baseline
    assert violations(metadata, spec, "restricted") == (
        baseline if restricted is BOTH else restricted
    )


# --- pod-level vs container-level precedence -------------------------------------------------


def test_pod_run_as_non_root_true_does_not_cover_container_false() -> None:
    metadata, spec = broken(lambda m, s: csc(s, "debug").update(runAsNonRoot=False))
    assert psc(spec)["runAsNonRoot"] is True
    assert violations(metadata, spec, "restricted") == [
        "restricted: container 'debug' must not set securityContext.runAsNonRoot=false"
    ]


def test_run_as_non_root_on_every_container_replaces_pod_level() -> None:
    def every_container(m: dict, s: dict) -> None:
        psc(s).pop("runAsNonRoot")
        for name in ("init", "app", "debug"):
            csc(s, name)["runAsNonRoot"] = True

    metadata, spec = broken(every_container)
    assert violations(metadata, spec, "restricted") == []
    csc(spec, "debug").pop("runAsNonRoot")
    assert violations(metadata, spec, "restricted") == [
        "restricted: pod or container 'debug' must set securityContext.runAsNonRoot=true"
    ]


def test_pod_run_as_non_root_false_is_reported_even_if_containers_say_true() -> None:
    def pod_false(m: dict, s: dict) -> None:
        psc(s)["runAsNonRoot"] = False
        csc(s)["runAsNonRoot"] = True

    metadata, spec = broken(pod_false)
    assert violations(metadata, spec, "restricted") == [
        "restricted: pod must not set securityContext.runAsNonRoot=false"
    ]


def test_run_as_user_0_at_both_levels_is_reported_twice() -> None:
    def root(m: dict, s: dict) -> None:
        psc(s)["runAsUser"] = 0
        csc(s)["runAsUser"] = 0

    metadata, spec = broken(root)
    assert violations(metadata, spec, "restricted") == [
        "restricted: pod must not set securityContext.runAsUser=0",
        "restricted: container 'app' must not set securityContext.runAsUser=0",
    ]


def test_pod_seccomp_runtime_default_covers_containers_that_set_none() -> None:
    metadata, spec = compliant()
    assert "seccompProfile" not in csc(spec, "init")
    assert violations(metadata, spec, "restricted") == []


def test_seccomp_on_every_container_replaces_pod_level() -> None:
    def every_container(m: dict, s: dict) -> None:
        psc(s).pop("seccompProfile")
        for name in ("init", "debug"):
            csc(s, name)["seccompProfile"] = {"type": "RuntimeDefault"}

    metadata, spec = broken(every_container)
    assert violations(metadata, spec, "restricted") == []
    csc(spec, "init").pop("seccompProfile")
    assert violations(metadata, spec, "restricted") == [
        "restricted: pod or container 'init' must set securityContext.seccompProfile.type to "
        "'RuntimeDefault' or 'Localhost'"
    ]


def test_container_unconfined_fails_baseline_despite_pod_runtime_default() -> None:
    metadata, spec = broken(
        lambda m, s: csc(s, "init").update(seccompProfile={"type": "Unconfined"})
    )
    assert psc(spec)["seccompProfile"] == {"type": "RuntimeDefault"}
    assert violations(metadata, spec, "baseline") == [
        "baseline: container 'init' must not set securityContext.seccompProfile.type to "
        "'Unconfined'"
    ]


def test_seccomp_without_any_profile_passes_baseline() -> None:
    metadata, spec = broken(
        lambda m, s: [psc(s).pop("seccompProfile"), csc(s).pop("seccompProfile")]
    )
    assert violations(metadata, spec, "baseline") == []
    assert len(violations(metadata, spec, "restricted")) == 3


# --- allow-lists, exemptions, levels ---------------------------------------------------------


@pytest.mark.parametrize(
    "cap",
    ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
     "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"],
)  # fmt: skip
def test_baseline_allows_the_default_capabilities(cap: str) -> None:
    metadata, spec = broken(lambda m, s: csc(s)["capabilities"].update(add=[cap]))
    assert violations(metadata, spec, "baseline") == []
    expected = (
        f"restricted: container 'app' must not include '{cap}' in securityContext.capabilities.add"
    )
    restricted = [] if cap == "NET_BIND_SERVICE" else [expected]
    assert violations(metadata, spec, "restricted") == restricted


@pytest.mark.parametrize(
    "name",
    ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
     "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
     "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
     "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem",
     "net.ipv4.tcp_wmem"],
)  # fmt: skip
def test_safe_sysctls_pass(name: str) -> None:
    metadata, spec = broken(lambda m, s: psc(s).update(sysctls=[{"name": name, "value": "1"}]))
    assert violations(metadata, spec, "restricted") == []


SELINUX_TYPES = ["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"]


@pytest.mark.parametrize("kind", SELINUX_TYPES)
def test_allowed_selinux_types_pass(kind: str) -> None:
    metadata, spec = broken(
        lambda m, s: csc(s).update(seLinuxOptions={"type": kind, "level": "s0"})
    )
    assert violations(metadata, spec, "restricted") == []


def test_volume_without_source_is_an_empty_dir() -> None:
    metadata, spec = broken(lambda m, s: s["volumes"].append({"name": "scratch"}))
    assert violations(metadata, spec, "restricted") == []


def test_windows_pods_are_exempt_from_linux_only_restricted_checks() -> None:
    def windows(m: dict, s: dict) -> None:
        s["os"] = {"name": "windows"}
        psc(s).pop("seccompProfile")
        for name in ("init", "app", "debug"):
            csc(s, name).clear()
        csc(s)["capabilities"] = {"add": ["SYS_ADMIN"]}

    metadata, spec = broken(windows)
    assert violations(metadata, spec, "restricted") == []
    # The baseline capabilities check has no Windows exemption; restricted replaces it.
    assert violations(metadata, spec, "baseline") == [
        "baseline: container 'app' must not include 'SYS_ADMIN' in securityContext.capabilities.add"
    ]
    spec["os"] = {"name": "linux"}
    assert len(violations(metadata, spec, "restricted")) == 10  # 3 + (3 + 1) + 3


def test_privileged_level_reports_nothing_and_unknown_level_is_rejected() -> None:
    spec = {
        "hostNetwork": True,
        "containers": [{"name": "x", "securityContext": {"privileged": True}}],
    }
    assert violations({}, spec, "privileged") == []
    assert violations({}, spec, "baseline") != []
    with pytest.raises(ValueError, match="unknown Pod Security level"):
        violations({}, spec, "strict")  # type: ignore[arg-type]


def test_violations_keep_the_controller_order_baseline_checks_first() -> None:
    spec = {
        "hostPID": True,
        "containers": [{"name": "c", "securityContext": {"privileged": True, "runAsUser": 0}}],
    }
    assert violations({}, spec, "restricted") == [
        "baseline: pod must not set hostPID=true",
        "baseline: container 'c' must not set securityContext.privileged=true",
        "restricted: container 'c' must set securityContext.allowPrivilegeEscalation=false",
        "restricted: container 'c' must set securityContext.capabilities.drop=['ALL']",
        "restricted: pod or container 'c' must set securityContext.runAsNonRoot=true",
        "restricted: container 'c' must not set securityContext.runAsUser=0",
        "restricted: pod or container 'c' must set securityContext.seccompProfile.type to "
        "'RuntimeDefault' or 'Localhost'",
    ]


# --- pod_template ----------------------------------------------------------------------------

META = {"labels": {"app": "x"}}
SPEC = {"containers": [{"name": "app", "image": "nginx"}]}
TEMPLATE = {"metadata": META, "spec": SPEC}


@pytest.mark.parametrize(
    "obj",
    [
        {"kind": "Pod", "metadata": META, "spec": SPEC},
        {"kind": "Deployment", "spec": {"template": TEMPLATE}},
        {"kind": "StatefulSet", "spec": {"template": TEMPLATE}},
        {"kind": "DaemonSet", "spec": {"template": TEMPLATE}},
        {"kind": "ReplicaSet", "spec": {"template": TEMPLATE}},
        {"kind": "ReplicationController", "spec": {"template": TEMPLATE}},
        {"kind": "Job", "spec": {"template": TEMPLATE}},
        {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}},
        {"kind": "PodTemplate", "template": TEMPLATE},
    ],
    ids=lambda obj: obj["kind"],
)
def test_pod_template_finds_the_pod(obj: dict) -> None:
    assert pod_template({"apiVersion": "v1", "metadata": {"name": "outer"}, **obj}) == (META, SPEC)


@pytest.mark.parametrize("kind", ["ConfigMap", "Service", "Namespace", None])
def test_pod_template_is_none_without_a_pod(kind: str | None) -> None:
    assert pod_template({"kind": kind, "spec": {"template": TEMPLATE}}) is None


def test_pod_template_of_a_sparse_workload_is_empty() -> None:
    assert pod_template({"kind": "Deployment", "spec": {}}) == ({}, {})
    assert pod_template({"kind": "CronJob"}) == ({}, {})
