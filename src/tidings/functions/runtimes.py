"""Which interpreter runs which Lambda runtime on this machine."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

from tidings.domain.errors import InvalidInput
from tidings.functions.environment import BOOTSTRAP_DIR

PYTHON_RUNTIMES = ("python3.11", "python3.12", "python3.13")
NODE_RUNTIMES = ("nodejs18.x", "nodejs20.x", "nodejs22.x")
SUPPORTED = PYTHON_RUNTIMES + NODE_RUNTIMES


@cache
def _real_executable(name: str) -> str | None:
    """The interpreter binary behind ``name`` (a version manager's shim costs ~80 ms a start)."""
    found = shutil.which(name) if "/" not in name else (name if os.access(name, os.X_OK) else None)
    if found is None:
        return None
    is_python = Path(name).name.startswith("python")
    probe = "import sys; print(sys.executable)" if is_python else "console.log(process.execPath)"
    flag = "-c" if is_python else "-e"
    try:
        done = subprocess.run([found, flag, probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = done.stdout.strip()
    return path if done.returncode == 0 and path else None


def _installed_pythons(version: str) -> list[str]:
    """Interpreters of a version that version managers install but may not put on PATH."""
    roots = [os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv")) + f"/versions/{version}*/bin"]
    roots.append(str(Path.home() / f".local/share/uv/python/cpython-{version}*/bin"))
    roots += ["/usr/local/bin", "/usr/bin"]
    found = []
    for root in roots:
        found += sorted(glob.glob(f"{root}/python{version}"), reverse=True)
    return found


@cache
def python_for(runtime: str) -> str | None:
    version = runtime.removeprefix("python")
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    for candidate in [f"python{version}", *_installed_pythons(version)]:
        found = _real_executable(candidate)
        if found:
            return found
    return None


def command_for(runtime: str) -> tuple[str, ...]:
    """The command that starts an environment's bootstrap for ``runtime``."""
    if runtime in PYTHON_RUNTIMES:
        python = python_for(runtime)
        if python is None:
            raise InvalidInput(
                f"Runtime {runtime} is not available on this server: no python{runtime.removeprefix('python')} "
                f"interpreter was found on PATH. Available: {', '.join(available())}",
                member="Runtime",
            )
        return (python, "-I", "-S", "-B", str(BOOTSTRAP_DIR / "python_bootstrap.py"))
    if runtime in NODE_RUNTIMES:
        node = _real_executable("node")
        if node is None:
            raise InvalidInput(
                f"Runtime {runtime} is not available on this server: Node.js (node) was not found on PATH",
                member="Runtime",
            )
        return (node, str(BOOTSTRAP_DIR / "node_bootstrap.js"))
    raise InvalidInput(
        f"Value {runtime!r} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"[{', '.join(SUPPORTED)}]",
        member="Runtime",
    )


def available() -> list[str]:
    found = [r for r in PYTHON_RUNTIMES if python_for(r)]
    if _real_executable("node"):
        found += list(NODE_RUNTIMES)
    return found
