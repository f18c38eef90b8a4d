"""The sandbox an environment's process runs in: bubblewrap namespaces and a memory cgroup.

Inside, a function sees what it sees in Lambda: its code read-only at /var/task, the runtime's
bootstrap at /var/runtime, a private writable /tmp, the system's /usr and a few files of /etc
(certificates, name resolution), its interpreter's installation read-only, and a /proc of its
own pid namespace. Nothing else of the host's file system exists for it: not the database
file, not the server's data dir, not other functions' code or temp dirs. It runs as an
unprivileged user (65534) of its own user namespace, with no capabilities, so it cannot see or
signal the server. The network is shared with the host (see docs/functions.md, "Sandbox").

MemorySize is enforced by a memory cgroup per environment, created under the server's own
cgroup (cgroup v2 where the memory controller is delegated to it, else the v1 memory
hierarchy); the kernel kills a runtime that goes past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("tidings.functions")

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
TMP_DIR = "/tmp"
SANDBOX_UID = 65534  # "nobody": owns nothing outside
# Files of /etc a runtime needs: TLS roots, name resolution, user lookup, time zone.
ETC_FILES = (
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/ld.so.cache",
)
# The top-level directories a merged-/usr system links into /usr (or holds for real).
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
CGROUP_PREFIX = "tidings-"


class SandboxUnavailable(RuntimeError):
    """The host cannot sandbox functions; the message says what to install or change."""


@dataclass
class Sandbox:
    bwrap: str
    memory: MemoryCgroups | None = None
    _system_binds: list[str] = field(default_factory=list)

    @classmethod
    def create(cls) -> Sandbox:
        """Check that bubblewrap is installed and may create namespaces here."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable(
                "functions run in a bubblewrap sandbox, but `bwrap` was not found on PATH: install the "
                "'bubblewrap' package (Debian/Ubuntu: apt-get install bubblewrap), or, for development only, "
                "start the server with --no-function-sandbox"
            )
        sandbox = cls(bwrap, MemoryCgroups.detect())
        sandbox._system_binds = _system_binds()
        probe = subprocess.run(
            [*sandbox._bwrap_args(), "--", "/usr/bin/env", "true"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode != 0:
            raise SandboxUnavailable(
                f"bubblewrap cannot create a sandbox on this host ({probe.stderr.strip() or probe.returncode}): "
                "it needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or "
                "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu). For development only, start the "
                "server with --no-function-sandbox"
            )
        if sandbox.memory is None:
            log.warning(
                "no writable memory cgroup for function environments: MemorySize is not enforced "
                "(see docs/functions.md, 'Sandbox')"
            )
        return sandbox

    def _bwrap_args(self) -> list[str]:
        return [
            self.bwrap,
            "--unshare-all",  # user, pid, ipc, uts, cgroup and mount namespaces of its own...
            "--share-net",  # ...but the host's network (see the docs)
            "--die-with-parent",
            "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_UID),
            "--cap-drop", "ALL",
            *self._system_binds,
            "--proc", "/proc",
            "--dev", "/dev",
        ]  # fmt: skip

    def command(
        self, command: tuple[str, ...], code_dir: Path, tmp_dir: Path, fd: int, env_fd: int
    ) -> list[str]:
        """``command`` (interpreter, its flags, bootstrap script: see runtimes.command_for) run
        inside a sandbox whose /var/task is ``code_dir`` and /tmp is ``tmp_dir``; ``fd`` stays
        open across. The interpreter runs from its real path (a virtualenv's python links to
        its base installation, which is all the bootstrap needs). ``env_fd`` holds the
        environment's settings as bubblewrap arguments (see :func:`environment_arguments`):
        read from a pipe, they never show on a host command line."""
        interpreter = os.path.realpath(command[0])
        args = [*self._bwrap_args(), "--args", str(env_fd)]
        installation = Path(interpreter).parent.parent  # the directory above its bin/
        if not installation.is_relative_to("/usr"):
            args += ["--ro-bind", str(installation), str(installation)]
        bootstrap_dir = str(Path(command[-1]).parent)
        args += [
            "--ro-bind", bootstrap_dir, RUNTIME_DIR,
            "--ro-bind", str(code_dir), TASK_ROOT,
            "--bind", str(tmp_dir), TMP_DIR,
            "--remount-ro", "/",
            "--chdir", TASK_ROOT,
            "--",
            interpreter, *command[1:-1], f"{RUNTIME_DIR}/{Path(command[-1]).name}", str(fd),
        ]  # fmt: skip
        return args


# What the host-side processes that start a sandbox (a shell, bubblewrap) get as their
# environment: nothing a function chose. Loader variables (LD_PRELOAD...) set by a function
# would otherwise run its code on the host before any namespace exists.
HOST_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def environment_arguments(variables: dict[str, str]) -> bytes:
    """A function environment's variables as bubblewrap's ``--args`` input (NUL-separated):
    the sandbox starts with these and nothing else of the host's."""
    args = ["--clearenv"]
    for name, value in variables.items():
        args += ["--setenv", name, value]
    return b"".join(arg.encode("utf-8", "surrogateescape") + b"\0" for arg in args)


def _system_binds() -> list[str]:
    binds = ["--ro-bind", "/usr", "/usr"]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            binds += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            binds += ["--ro-bind", path, path]
    for path in ETC_FILES:
        binds += ["--ro-bind-try", path, path]
    return binds


@dataclass
class MemoryCgroups:
    """Per-environment memory cgroups under ``parent`` (a cgroup of this server's own)."""

    parent: Path
    version: int

    @classmethod
    def detect(cls) -> MemoryCgroups | None:
        """The server's own memory cgroup, if it may create children there; else None."""
        mounts = _cgroup_mounts()
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hierarchy, controllers, path = line.split(":", 2)
            if hierarchy == "0" and "v2" in mounts:
                own = mounts["v2"] / path.lstrip("/")
                if "memory" in _read(own / "cgroup.controllers").split() and _delegate_memory_v2(own):
                    return cls._under(own, 2)
            elif "memory" in controllers.split(",") and "memory" in mounts:
                found = cls._under(mounts["memory"] / path.lstrip("/"), 1)
                if found is not None:
                    return found
        return None

    @classmethod
    def _under(cls, own: Path, version: int) -> MemoryCgroups | None:
        _remove_stale(own)
        parent = own / f"{CGROUP_PREFIX}{os.getpid()}"
        try:
            parent.mkdir(exist_ok=True)
            if version == 2:
                (parent / "cgroup.subtree_control").write_text("+memory")
        except OSError as exc:
            log.debug("cannot create memory cgroups under %s: %s", own, exc)
            return None
        return cls(parent, version)

    def create(self, name: str, limit_mb: int) -> Cgroup:
        path = self.parent / name
        path.mkdir()
        limit = str(limit_mb * 1024 * 1024)
        if self.version == 2:
            (path / "memory.max").write_text(limit)
            with contextlib.suppress(OSError):
                (path / "memory.swap.max").write_text("0")
        else:
            (path / "memory.limit_in_bytes").write_text(limit)
            with contextlib.suppress(OSError):  # only with swap accounting
                (path / "memory.memsw.limit_in_bytes").write_text(limit)
        return Cgroup(path, self.version)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.parent.rmdir()


@dataclass
class Cgroup:
    path: Path
    version: int

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def oom_kills(self) -> int:
        source = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in _read(self.path / source).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def peak_mb(self) -> int:
        names = ("memory.peak", "memory.current") if self.version == 2 else ("memory.max_usage_in_bytes",)
        for name in names:
            value = _read(self.path / name).strip()
            if value.isdigit():
                return max(1, int(value) // (1024 * 1024))
        return 0

    def kill(self) -> None:
        """SIGKILL whatever is left in it (a process that left the environment's process group)."""
        for pid in _read(self.procs).split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)

    async def remove(self) -> None:
        # The kernel frees a cgroup once its last process is reaped, a moment after the kill.
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                self.kill()
                await asyncio.sleep(0.02)
        log.warning("could not remove the memory cgroup %s", self.path)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _cgroup_mounts() -> dict[str, Path]:
    """Where the cgroup v2 hierarchy ("v2") and the v1 memory hierarchy ("memory") are mounted."""
    found: dict[str, Path] = {}
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        before, _, after = line.partition(" - ")
        fields, kind = before.split(), after.split()
        if not kind:
            continue
        if kind[0] == "cgroup2":
            found.setdefault("v2", Path(fields[4]))
        elif kind[0] == "cgroup" and "memory" in kind[-1].split(","):
            found.setdefault("memory", Path(fields[4]))
    return found


def _delegate_memory_v2(own: Path) -> bool:
    """Enable the memory controller for the children of our cgroup. cgroup v2 allows that only
    in a cgroup without processes of its own, so the server first moves into a leaf child
    (as systemd's Delegate=yes expects)."""
    control = own / "cgroup.subtree_control"
    if "memory" in _read(control).split():
        return True
    try:
        control.write_text("+memory")
        return True
    except OSError:
        pass
    try:
        leaf = own / f"{CGROUP_PREFIX}server"
        leaf.mkdir(exist_ok=True)
        (leaf / "cgroup.procs").write_text(str(os.getpid()))
        control.write_text("+memory")
        return True
    except OSError as exc:
        log.debug("cannot delegate the memory controller under %s: %s", own, exc)
        return False


def _remove_stale(own: Path) -> None:
    """Cgroups left by a server of ours that was killed (they are empty: its environments died)."""
    for parent in own.glob(f"{CGROUP_PREFIX}*"):
        pid = parent.name.removeprefix(CGROUP_PREFIX)
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        for child in parent.iterdir():
            if child.is_dir():
                with contextlib.suppress(OSError):
                    child.rmdir()
        with contextlib.suppress(OSError):
            parent.rmdir()
