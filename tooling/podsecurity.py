"""Pod Security Standards checker: the built-in PodSecurity admission controller, in plain Python.

Mirrors the checks of k8s.io/pod-security-admission (policy/check_*.go) at Kubernetes v1.34 for
policy version "latest": the same fields, allowed values, pod-level vs container-level precedence,
Windows exemptions and the same rule that three restricted checks replace their baseline
counterparts (capabilities, seccomp, hostPath -> volume types). Messages follow the controller's
wording, one line per pod / container / volume / annotation / sysctl, prefixed with the level of
the check that fails, in the controller's check order. The UserNamespacesPodSecurityStandards
relaxation (alpha, off by default) and the SkipProbeHostEnforcement opt-out are not modelled.
"""

# Ref: https://kubernetes.io/docs/concepts/security/pod-security-standards/
# Source of the semantics: https://github.com/kubernetes/pod-security-admission/tree/v0.34.9/policy

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

Level = Literal["privileged", "baseline", "restricted"]
Check = Callable[[dict, dict], list[str]]

# Kinds whose pod lives in spec.template (CronJob: spec.jobTemplate.spec.template).
_TEMPLATE_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
)

BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
     "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)  # fmt: skip
SAFE_SYSCTLS = frozenset(  # sysctlsAllowedV1Dot32, unchanged through 1.34
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
     "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
     "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
     "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
     "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
)  # fmt: skip
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
RESTRICTED_VOLUME_SOURCES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
     "persistentVolumeClaim", "projected", "secret"}
)  # fmt: skip
_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})  # seccomp and AppArmor
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def pod_template(obj: dict) -> tuple[dict, dict] | None:
    """(pod metadata, pod spec) of a workload object, or None for a kind that carries no pod.

    Kinds: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job
    (spec.template), CronJob (spec.jobTemplate.spec.template), and PodTemplate (template), the
    same set the admission controller extracts pods from.
    """
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("metadata") or {}, obj.get("spec") or {}
    if kind == "PodTemplate":
        template = obj.get("template") or {}
    elif kind == "CronJob":
        job_spec = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        template = job_spec.get("template") or {}
    elif kind in _TEMPLATE_KINDS:
        template = (obj.get("spec") or {}).get("template") or {}
    else:
        return None
    return template.get("metadata") or {}, template.get("spec") or {}


def violations(pod_metadata: dict, pod_spec: dict, level: Level) -> list[str]:
    """Every check of `level` (restricted includes all baseline checks; privileged has none) the
    pod breaks, each as one readable line naming the check and the container / volume / field, e.g.
    "restricted: container 'app' must set securityContext.allowPrivilegeEscalation=false".

    The prefix is the level of the failing check, so a restricted evaluation also yields
    "baseline: ..." lines. At restricted, capabilities, seccomp and hostPath are judged by their
    restricted versions only (as the controller does), which exempt Windows pods.
    """
    if level not in ("privileged", "baseline", "restricted"):
        raise ValueError(f"unknown Pod Security level {level!r}")
    if level == "privileged":
        return []
    checks = [
        ("baseline", check)
        for check_id, check in BASELINE_CHECKS.items()
        if level == "baseline" or check_id not in OVERRIDDEN_BY_RESTRICTED
    ]
    if level == "restricted":
        checks += [("restricted", check) for check in RESTRICTED_CHECKS.values()]
    meta, spec = pod_metadata or {}, pod_spec or {}
    return [f"{check_level}: {line}" for check_level, check in checks for line in check(meta, spec)]


# --- helpers -----------------------------------------------------------------------------------


def _containers(spec: dict) -> list[dict]:
    """initContainers, containers, ephemeralContainers: the controller's visiting order."""
    kinds = ("initContainers", "containers", "ephemeralContainers")
    return [c for kind in kinds for c in spec.get(kind) or []]


def _sc(obj: dict) -> dict:
    return obj.get("securityContext") or {}


def _name(container: dict) -> str:
    return f"container '{container.get('name', '')}'"


def _setters(spec: dict) -> list[tuple[str, dict]]:
    """("pod", pod securityContext) then (container 'x', its securityContext) for each container."""
    return [("pod", _sc(spec))] + [(_name(c), _sc(c)) for c in _containers(spec)]


def _quote(items: Iterable[str]) -> str:
    return ", ".join(f"'{item}'" for item in items)


def _bad_profile_type(sc: dict, field: str) -> str | None:
    """sc[field].type when that profile is set to anything but RuntimeDefault / Localhost."""
    profile = sc.get(field)
    if profile is None:
        return None
    kind = str(profile.get("type") or "")
    return None if kind in _PROFILE_TYPES else kind


def _is_windows(spec: dict) -> bool:
    return (spec.get("os") or {}).get("name") == "windows"


# --- baseline ----------------------------------------------------------------------------------


def _app_armor(meta: dict, spec: dict) -> list[str]:
    out = [
        f"{who} must not set securityContext.appArmorProfile.type to '{kind}'"
        for who, sc in _setters(spec)
        if (kind := _bad_profile_type(sc, "appArmorProfile")) is not None
    ]
    for key, value in sorted((meta.get("annotations") or {}).items()):
        allowed = not value or value == "runtime/default" or value.startswith("localhost/")
        if key.startswith(_APPARMOR_ANNOTATION) and not allowed:
            out.append(f"annotation '{key}' must not set AppArmor profile '{value}'")
    return out


def _capabilities_baseline(meta: dict, spec: dict) -> list[str]:
    out = []
    for c in _containers(spec):
        added = ((_sc(c).get("capabilities") or {}).get("add")) or []
        if bad := sorted(set(added) - BASELINE_CAPABILITIES):
            out.append(
                f"{_name(c)} must not include {_quote(bad)} in securityContext.capabilities.add"
            )
    return out


def _host_namespaces(meta: dict, spec: dict) -> list[str]:
    return [
        f"pod must not set {field}=true"
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if spec.get(field) is True
    ]


def _host_path_volumes(meta: dict, spec: dict) -> list[str]:
    return [
        f"volume '{v.get('name', '')}' must not use hostPath"
        for v in spec.get("volumes") or []
        if v.get("hostPath") is not None
    ]


def _host_ports(meta: dict, spec: dict) -> list[str]:
    out = []
    for c in _containers(spec):
        if ports := sorted({p["hostPort"] for p in c.get("ports") or [] if p.get("hostPort")}):
            noun = "hostPort" if len(ports) == 1 else "hostPorts"
            out.append(f"{_name(c)} must not use {noun} {', '.join(map(str, ports))}")
    return out


def _host_probes_and_lifecycle(meta: dict, spec: dict) -> list[str]:
    handlers = ("livenessProbe", "readinessProbe", "startupProbe")
    out = []
    for c in _containers(spec):
        lifecycle = c.get("lifecycle") or {}
        found = [(h, c.get(h)) for h in handlers]
        found += [(f"lifecycle.{h}", lifecycle.get(h)) for h in ("postStart", "preStop")]
        for where, handler in found:
            for action in ("httpGet", "tcpSocket"):
                if host := ((handler or {}).get(action) or {}).get("host"):
                    out.append(f"{_name(c)} must not set {where}.{action}.host (set to '{host}')")
    return out


def _privileged(meta: dict, spec: dict) -> list[str]:
    return [
        f"{_name(c)} must not set securityContext.privileged=true"
        for c in _containers(spec)
        if _sc(c).get("privileged") is True
    ]


def _proc_mount(meta: dict, spec: dict) -> list[str]:
    return [
        f"{_name(c)} must not set securityContext.procMount to '{_sc(c)['procMount']}'"
        for c in _containers(spec)
        if _sc(c).get("procMount") not in (None, "Default")
    ]


def _selinux(meta: dict, spec: dict) -> list[str]:
    out = []
    for who, sc in _setters(spec):
        opts = sc.get("seLinuxOptions")
        if opts is None:
            continue
        if (kind := opts.get("type") or "") not in SELINUX_TYPES:
            out.append(f"{who} must not set securityContext.seLinuxOptions.type to '{kind}'")
        out += [
            f"{who} must not set securityContext.seLinuxOptions.{field}"
            for field in ("user", "role")
            if opts.get(field)
        ]
    return out


def _bad_seccomp(spec: dict) -> list[str]:
    """Setters whose explicit seccompProfile.type is neither RuntimeDefault nor Localhost."""
    return [
        f"{who} must not set securityContext.seccompProfile.type to '{kind}'"
        for who, sc in _setters(spec)
        if (kind := _bad_profile_type(sc, "seccompProfile")) is not None
    ]


def _seccomp_baseline(meta: dict, spec: dict) -> list[str]:
    return _bad_seccomp(spec)


def _sysctls(meta: dict, spec: dict) -> list[str]:
    return [
        f"pod must not set forbidden sysctl '{s.get('name', '')}' in securityContext.sysctls"
        for s in _sc(spec).get("sysctls") or []
        if s.get("name") not in SAFE_SYSCTLS
    ]


def _windows_host_process(meta: dict, spec: dict) -> list[str]:
    return [
        f"{who} must not set securityContext.windowsOptions.hostProcess=true"
        for who, sc in _setters(spec)
        if (sc.get("windowsOptions") or {}).get("hostProcess") is True
    ]


# --- restricted --------------------------------------------------------------------------------


def _allow_privilege_escalation(meta: dict, spec: dict) -> list[str]:
    if _is_windows(spec):
        return []
    return [
        f"{_name(c)} must set securityContext.allowPrivilegeEscalation=false"
        for c in _containers(spec)
        if _sc(c).get("allowPrivilegeEscalation") is not False
    ]


def _capabilities_restricted(meta: dict, spec: dict) -> list[str]:
    if _is_windows(spec):
        return []
    drop, add = [], []
    for c in _containers(spec):
        caps = _sc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            drop.append(f"{_name(c)} must set securityContext.capabilities.drop=['ALL']")
        if bad := sorted(set(caps.get("add") or []) - {"NET_BIND_SERVICE"}):
            add.append(
                f"{_name(c)} must not include {_quote(bad)} in securityContext.capabilities.add"
            )
    return drop + add


def _restricted_volumes(meta: dict, spec: dict) -> list[str]:
    out = []
    for v in spec.get("volumes") or []:
        # A volume with no source at all is defaulted to emptyDir by the API server.
        sources = [k for k, val in v.items() if k != "name" and val is not None]
        if sources and not RESTRICTED_VOLUME_SOURCES.intersection(sources):
            noun = "type" if len(sources) == 1 else "types"
            out.append(
                f"volume '{v.get('name', '')}' must not use restricted volume {noun} "
                f"{_quote(sorted(sources))}"
            )
    return out


def _run_as_non_root(meta: dict, spec: dict) -> list[str]:
    explicit = [
        f"{who} must not set securityContext.runAsNonRoot=false"
        for who, sc in _setters(spec)
        if sc.get("runAsNonRoot") is False
    ]
    if explicit or _sc(spec).get("runAsNonRoot") is True:
        return explicit  # like the controller: implicit failures only when nothing is explicit
    return [
        f"pod or {_name(c)} must set securityContext.runAsNonRoot=true"
        for c in _containers(spec)
        if _sc(c).get("runAsNonRoot") is None
    ]


def _run_as_user(meta: dict, spec: dict) -> list[str]:
    return [
        f"{who} must not set securityContext.runAsUser=0"
        for who, sc in _setters(spec)
        if sc.get("runAsUser") == 0
    ]


def _seccomp_restricted(meta: dict, spec: dict) -> list[str]:
    if _is_windows(spec):
        return []
    if (explicit := _bad_seccomp(spec)) or _sc(spec).get("seccompProfile") is not None:
        return explicit  # a valid pod-level profile covers containers that set none
    return [
        f"pod or {_name(c)} must set securityContext.seccompProfile.type to "
        "'RuntimeDefault' or 'Localhost'"
        for c in _containers(spec)
        if _sc(c).get("seccompProfile") is None
    ]


# Check IDs as in the controller, in its evaluation order (sorted by ID, baseline first).
BASELINE_CHECKS: dict[str, Check] = {
    "appArmorProfile": _app_armor,
    "capabilities_baseline": _capabilities_baseline,
    "hostNamespaces": _host_namespaces,
    "hostPathVolumes": _host_path_volumes,
    "hostPorts": _host_ports,
    "hostProbesAndHostLifecycle": _host_probes_and_lifecycle,
    "privileged": _privileged,
    "procMount": _proc_mount,
    "seLinuxOptions": _selinux,
    "seccompProfile_baseline": _seccomp_baseline,
    "sysctls": _sysctls,
    "windowsHostProcess": _windows_host_process,
}
RESTRICTED_CHECKS: dict[str, Check] = {
    "allowPrivilegeEscalation": _allow_privilege_escalation,
    "capabilities_restricted": _capabilities_restricted,
    "restrictedVolumes": _restricted_volumes,
    "runAsNonRoot": _run_as_non_root,
    "runAsUser": _run_as_user,
    "seccompProfile_restricted": _seccomp_restricted,
}
# Baseline checks that a stricter restricted check replaces at the restricted level.
OVERRIDDEN_BY_RESTRICTED = frozenset(
    {"capabilities_baseline", "hostPathVolumes", "seccompProfile_baseline"}
)
