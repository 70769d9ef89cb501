"""The real programs that judge our generated files are installed (`make test` installs them
with scripts/system-deps.sh). A missing one fails here with the command to fix it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

VALIDATORS = {
    "nginx": (["nginx", "-v"], "nginx-light"),
    "php-fpm8.2": (["php-fpm8.2", "-v"], "php8.2-fpm"),
    "php8.2": (["php8.2", "-v"], "php8.2-cli"),
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
