"""`.ci/run` installs promtool and amtool as root and as a non-root user with passwordless sudo.

GitHub's hosted runners run jobs as a non-root user with passwordless sudo ("The Linux and macOS
virtual machines both run using passwordless `sudo`",
https://docs.github.com/en/actions/reference/runners/github-hosted-runners#administrative-privileges),
so a bare `apt-get` fails there. `.ci/run` hands the packages to `.ci/install-debian-tools`, which
these tests run for real, as an unprivileged user (`setpriv` to `nobody` when the suite runs as
root; the suite's own user otherwise), with stand-ins for `apt-get` and `sudo` first on a PATH
that holds nothing else of the system but a shell and `env`. The stand-ins answer as the real
programs do:

- apt-get (apt 2.6): as a non-root user, `update` prints `E: Could not open lock file
  /var/lib/apt/lists/lock - open (13: Permission denied)` and `E: Unable to lock directory
  /var/lib/apt/lists/` (apt-pkg/contrib/fileutl.cc GetLock, apt-pkg/acquire.cc), `install`
  `E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), are you root?`
  (apt-pkg/deb/debsystem.cc); exit status 100 ("apt-get returns zero on normal operation,
  decimal 100 on error", apt-get(8)). `test_the_apt_get_stand_in_tells_the_truth` compares it
  with the real apt-get when there is one: both fail at the lock, before anything changes.
- sudo (1.9): with `-n` and a password needed it prints `sudo: a password is required`
  (plugins/sudoers/logging.c) and exits 1 ("sudo exits with a value of 1 if there is a
  configuration/permission problem", sudo(8)); allowed without a password it runs the command
  as root and exits with its status.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / ".ci" / "install-debian-tools"
CI_RUN = ROOT / ".ci" / "run"
NOBODY = 65534

APT_GET = r"""#!/usr/bin/env bash
# stand-in apt-get: refuses like apt 2.6 unless root (real root, or the sudo stand-in's child)
root=0
if [[ $EUID -eq 0 || ${STANDIN_SUDO_ROOT:-} == 1 ]]; then root=1; fi
cmd=""
for arg in "$@"; do case $arg in -*) ;; *) cmd=$arg; break ;; esac; done
if ((!root)); then
  denied='- open (13: Permission denied)'
  case $cmd in
    update)
      printf '%s\n' "E: Could not open lock file /var/lib/apt/lists/lock $denied" \
        'E: Unable to lock directory /var/lib/apt/lists/' >&2 ;;
    *)
      printf '%s\n' "E: Could not open lock file /var/lib/dpkg/lock-frontend $denied" \
        'E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend),'\
' are you root?' >&2 ;;
  esac
  exit 100
fi
printf 'DEBIAN_FRONTEND=%s apt-get %s\n' "${DEBIAN_FRONTEND:-}" "$*" >> "$APT_LOG"
"""

SUDO = r"""#!/usr/bin/env bash
# stand-in sudo: STANDIN_SUDO=nopasswd runs the command "as root"; =password needs a password
noninteractive=0
while (($#)); do
  case $1 in
    -n|--non-interactive) noninteractive=1; shift ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
if [[ ${STANDIN_SUDO:-} == nopasswd ]]; then
  STANDIN_SUDO_ROOT=1 exec "$@"
fi
if ((noninteractive)); then
  echo 'sudo: a password is required' >&2
else
  echo 'sudo: a terminal is required to read the password; either use the -S option to read'\
' from standard input or configure an askpass helper' >&2
fi
exit 1
"""

UV = """#!/usr/bin/env bash
# stand-in uv: .ci/run's sync, lint, type check and tests are other tests' business
exit 0
"""


def _as_unprivileged() -> list[str]:
    """The command prefix that runs as a non-root user: `setpriv` to nobody when root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]


@pytest.fixture
def box() -> Iterator[Path]:
    """A directory every user can read (pytest's tmp_path is private to the suite's user)."""
    path = Path(tempfile.mkdtemp(prefix="ci-run-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _path(box: Path, *, sudo: bool, apt_get: bool = True, uv: bool = False) -> str:
    """bin/: the stand-ins; sys/: links to the shell tools the scripts use, and nothing else (no
    real sudo, apt-get, promtool or amtool can be found)."""
    stand_ins = box / "bin"
    system = box / "sys"
    for folder in (stand_ins, system):
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
    if apt_get:
        _write(stand_ins / "apt-get", APT_GET)
    if sudo:
        _write(stand_ins / "sudo", SUDO)
    if uv:
        _write(stand_ins / "uv", UV)
    for tool in ("bash", "env", "id", "dirname", "true"):
        found = shutil.which(tool)
        assert found, tool
        (system / tool).unlink(missing_ok=True)
        (system / tool).symlink_to(found)
    return f"{stand_ins}:{system}"


def _log(box: Path) -> Path:
    log = box / "apt.log"
    log.touch()
    log.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH
              | stat.S_IWOTH)
    return log


def _run(command: list[str], path: str, log: Path, sudo_mode: str = "",
         prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "APT_LOG": str(log), "STANDIN_SUDO": sudo_mode, "HOME": "/"}
    return subprocess.run([*(prefix if prefix is not None else _as_unprivileged()), *command],
                          env=env, capture_output=True, text=True, timeout=60, cwd="/")


def test_ci_run_installs_through_the_helper_and_keeps_the_upstream_glue():
    text = CI_RUN.read_text()
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "apt-get" in line], "apt-get belongs to the helper"
    assert '  .ci/install-debian-tools "${missing[@]}"' in code
    # the CI glue that points PLATE_UPSTREAM_DIR at a sibling pre-filled copy stays as it is (the
    # folder is named here only through .ci/run itself: tests/unit/test_self_contained.py)
    glue = [line for line in code if "PLATE_UPSTREAM_DIR" in line]
    assert glue[0].startswith('if [[ -z "${PLATE_UPSTREAM_DIR:-}" && -d ')
    assert glue[1:] == [
        f'  PLATE_UPSTREAM_DIR="$(cd {glue[0].split(" -d ")[1].split(" ]]")[0]} && pwd)"',
        "  export PLATE_UPSTREAM_DIR",
    ]
    assert os.access(INSTALL, os.X_OK)


def test_non_root_with_passwordless_sudo_installs_through_sudo(box):
    log = _log(box)
    result = _run([str(INSTALL), "prometheus", "prometheus-alertmanager"],
                  _path(box, sudo=True), log, "nopasswd")
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "DEBIAN_FRONTEND= apt-get update -qq",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "prometheus prometheus-alertmanager",
    ]


def test_the_old_bare_apt_get_fails_as_a_non_root_user(box):
    """What `.ci/run` did before: apt-get without sudo, refused with apt's own status."""
    log = _log(box)
    result = _run(["apt-get", "update", "-qq"], _path(box, sudo=True), log, "nopasswd")
    assert result.returncode == 100
    assert "Permission denied" in result.stderr and log.read_text() == ""


def test_non_root_whose_sudo_wants_a_password_gets_one_clear_error(box):
    log = _log(box)
    result = _run([str(INSTALL), "prometheus"], _path(box, sudo=True), log, "password")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr  # one line, before apt-get ran
    assert "installing prometheus needs root" in result.stderr
    assert "sudo: a password is required" in result.stderr
    assert "passwordless sudo" in result.stderr
    assert "preinstall promtool and amtool" in result.stderr
    assert log.read_text() == ""


def test_non_root_without_sudo_gets_one_clear_error(box):
    log = _log(box)
    result = _run([str(INSTALL), "prometheus-alertmanager"], _path(box, sudo=False), log)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "installing prometheus-alertmanager needs root" in result.stderr
    assert "has no sudo" in result.stderr and "run as root" in result.stderr
    assert log.read_text() == ""


def test_root_installs_directly_without_sudo(box):
    if os.geteuid() != 0:
        pytest.skip("the root path needs the suite to run as root")
    log = _log(box)
    result = _run([str(INSTALL), "prometheus"], _path(box, sudo=False), log, prefix=[])
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines()[-1] == (
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus"
    )


def test_no_apt_get_and_nothing_to_install(box):
    log = _log(box)
    result = _run([str(INSTALL), "prometheus"], _path(box, sudo=True, apt_get=False), log,
                  "nopasswd")
    assert result.returncode == 1 and "no apt-get on this machine" in result.stderr
    result = _run([str(INSTALL)], _path(box, sudo=False, apt_get=False), log)
    assert result.returncode == 0 and result.stderr == ""


def test_ci_run_as_a_non_root_user_installs_what_is_missing(box):
    """The whole entry point, unprivileged, with promtool, amtool and BIND's tools absent from
    its PATH (uv a stand-in; named counts as present where /usr/sbin/named exists)."""
    log = _log(box)
    result = _run(["bash", str(CI_RUN)], _path(box, sudo=True, uv=True), log, "nopasswd")
    assert result.returncode == 0, result.stderr
    bind = [] if Path("/usr/sbin/named").exists() else ["bind9"]
    assert log.read_text().splitlines()[-1].endswith(
        "--no-install-recommends " + " ".join(
            ["prometheus", "prometheus-alertmanager", *bind, "bind9-dnsutils", "busybox"]
        )
    )
    result = _run(["bash", str(CI_RUN)], _path(box, sudo=False, uv=True), _log(box))
    assert result.returncode == 1 and "needs root" in result.stderr


@pytest.mark.parametrize("args", [
    ["update", "-qq"],
    ["install", "-y", "-qq", "--no-install-recommends", "prometheus"],
])
def test_the_apt_get_stand_in_tells_the_truth(box, args):
    """The real apt-get, as an unprivileged user, fails at its lock exactly like the stand-in."""
    real = shutil.which("apt-get")
    if real is None:
        pytest.skip("no apt-get on this machine")
    log = _log(box)
    system = subprocess.run([*_as_unprivileged(), real, *args], capture_output=True, text=True,
                            timeout=120, cwd="/", env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    stand_in = _run(["apt-get", *args], _path(box, sudo=False), log)
    assert stand_in.returncode == system.returncode == 100, system.stderr
    # the same messages (apt 3 writes "Error:" where apt 2 writes "E:")
    for line in stand_in.stderr.splitlines():
        assert line.removeprefix("E: ") in system.stderr, (line, system.stderr)
