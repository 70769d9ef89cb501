"""The real programs that judge our generated files are installed (`make test` installs them
with scripts/system-deps.sh). A missing one fails here with the command to fix it."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from tests.conftest import ROOT
from tests.validators import php_version

PHP = php_version()
VALIDATORS = {
    "nginx": (["nginx", "-v"], "nginx-light"),
    f"php-fpm{PHP}": ([f"php-fpm{PHP}", "-v"], f"php{PHP}-fpm"),
    f"php{PHP}": ([f"php{PHP}", "-v"], f"php{PHP}-cli"),
    "promtool": (["promtool", "--version"], "prometheus"),
    "mariadbd": (["mariadbd", "--version"], "mariadb-server-core"),
    "redis-server": (["redis-server", "--version"], "redis-server"),
    "rabbitmq-server": (["rabbitmqctl", "version"], "rabbitmq-server"),
}


@pytest.mark.parametrize("tool", sorted(VALIDATORS))
def test_validator_is_installed(tool: str) -> None:
    command, package = VALIDATORS[tool]
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    assert path, f"{tool} is missing: run `make system-deps` or `apt-get install {package}`"
    if tool == "rabbitmq-server":
        return  # rabbitmqctl needs a running node for `version`; presence is what we check here
    proc = subprocess.run([path, *command[1:]], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def _deps(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"source scripts/system-deps.sh --functions-only; {script}"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )


@pytest.mark.parametrize(
    ("policy", "version"),
    [
        # `apt-cache policy php-fpm` as each supported release reports it.
        ("php-fpm:\n  Installed: (none)\n  Candidate: 2:8.2+93\n", "8.2"),  # Debian 12
        ("php-fpm:\n  Installed: (none)\n  Candidate: 2:8.1+92ubuntu1\n", "8.1"),  # Ubuntu 22.04
        ("php-fpm:\n  Installed: (none)\n  Candidate: 2:8.3+93ubuntu2\n", "8.3"),  # Ubuntu 24.04
        ("php-fpm:\n  Installed: (none)\n  Candidate: 2:8.4+96\n", "8.4"),  # Debian 13
        ("php-fpm:\n  Installed: (none)\n  Candidate: (none)\n", ""),  # not in the lists yet
    ],
)
def test_system_deps_takes_the_distributions_php(policy: str, version: str) -> None:
    proc = _deps(f"php_from_policy {shlex.quote(policy)}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == version


def test_system_deps_knows_each_supported_release() -> None:
    expected = {"debian 12": "8.2", "debian 13": "8.4", "ubuntu 22.04": "8.1", "ubuntu 24.04": "8.3"}
    for release, version in expected.items():
        assert _deps(f"php_from_os_release {release}").stdout.strip() == version, release
    assert _deps("php_from_os_release ubuntu 20.04").returncode != 0


def test_system_deps_installs_the_php_the_tests_use() -> None:
    proc = subprocess.run(["scripts/system-deps.sh", "--print"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"PHP {PHP};")


def test_system_deps_shows_progress() -> None:
    """A fresh install runs for minutes: apt's own lines go to the terminal, never to /dev/null."""
    text = (ROOT / "scripts" / "system-deps.sh").read_text()
    apt_lines = [line for line in text.splitlines() if line.strip().startswith("apt-get ")]
    assert apt_lines and all("/dev/null" not in line and "-qq" not in line for line in apt_lines)


def test_system_deps_falls_back_to_a_package_the_release_has() -> None:
    proc = _deps("first_available no-such-package-here nginx-light")
    assert proc.stdout.strip() == "nginx-light"
