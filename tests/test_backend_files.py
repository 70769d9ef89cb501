"""The Laravel web pod's generated config files, judged by the real programs: `nginx -t`,
`php-fpm -t` and `php` of the installed PHP version (unknown php.ini keys rejected). Each check also rejects a
deliberately broken variant, so it can fail."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import subprocess
from pathlib import Path

import pytest

from components.backend import files

SETTINGS = files.PhpSettings(
    memory_limit_mb=512, worker_mb=48, php_memory_limit_mb=256, upload_max_mb=64, request_timeout=60, grace_seconds=60
)


from tests.validators import php_cli, php_fpm, tool  # noqa: E402


def nginx_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    return subprocess.run([tool("nginx"), "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True, timeout=30)


def fpm_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """php-fpm runs unprivileged in the pod, where the pool needs no `user`; as root it would
    demand one, so when the tests run as root the check drops to `nobody` like the pod does."""
    with tempfile.TemporaryDirectory(prefix="fpm-check-") as directory:  # pytest's tmp is 0700
        os.chmod(directory, 0o755)
        conf = Path(directory) / "php-fpm.conf"
        conf.write_text(text)
        conf.chmod(0o644)
        command = [php_fpm(), "-t", "-y", str(conf)]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        # The pool logs to /proc/self/fd/2, which must be writable by the unprivileged user:
        # give it a file of its own rather than the root-owned pipe.
        log = Path(directory) / "stderr.log"
        log.touch(mode=0o666)
        log.chmod(0o666)
        with log.open("w") as stderr:
            proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=30)
        return subprocess.CompletedProcess(command, proc.returncode, proc.stdout, log.read_text())


def ini_values(tmp_path: Path, text: str) -> dict[str, object]:
    """Load the ini into a real PHP and read back every directive it sets (false = unknown)."""
    ini = tmp_path / "overrides.ini"
    ini.write_text(text)
    keys = json.dumps(files.ini_keys(text))
    code = f"$r = []; foreach (json_decode('{keys}') as $k) {{ $r[$k] = ini_get($k); }} echo json_encode($r);"
    proc = subprocess.run(
        [php_cli(), "-c", str(ini), "-d", "display_startup_errors=1", "-r", code],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "Warning" not in proc.stdout, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_nginx_accepts_the_generated_config(tmp_path: Path) -> None:
    proc = nginx_check(tmp_path, files.nginx_conf(SETTINGS))
    assert proc.returncode == 0, proc.stderr
    assert "syntax is ok" in proc.stderr


def test_nginx_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = files.nginx_conf(SETTINGS).replace("client_max_body_size", "client_max_body_sise", 1)
    assert nginx_check(tmp_path, broken).returncode != 0


def test_php_fpm_accepts_the_generated_pool(tmp_path: Path) -> None:
    proc = fpm_check(tmp_path, files.php_fpm_conf(SETTINGS))
    assert proc.returncode == 0, proc.stderr
    assert "test is successful" in proc.stderr


def test_php_fpm_rejects_a_broken_pool(tmp_path: Path) -> None:
    broken = files.php_fpm_conf(SETTINGS).replace("pm = dynamic", "pm = sometimes")
    assert fpm_check(tmp_path, broken).returncode != 0


def test_php_knows_every_ini_override(tmp_path: Path) -> None:
    values = ini_values(tmp_path, files.php_ini(SETTINGS))
    unknown = [k for k, v in values.items() if v is False]
    assert unknown == []
    assert values["memory_limit"] == "256M"
    assert values["upload_max_filesize"] == "64M"
    assert values["opcache.validate_timestamps"] == "0"


def test_php_flags_an_unknown_ini_key(tmp_path: Path) -> None:
    broken = files.php_ini(SETTINGS).replace("memory_limit =", "memory_limt =")
    values = ini_values(tmp_path, broken)
    assert values["memory_limt"] is False


@pytest.mark.parametrize(("limit_mb", "expected"), [(256, 2), (512, 6), (1024, 17), (2048, 38)])
def test_worker_count_follows_the_memory_limit(limit_mb: int, expected: int) -> None:
    settings = files.PhpSettings(limit_mb, 48, 256, 64, 60, 60)
    assert settings.max_children == expected
    pool = files.php_fpm_conf(settings)
    assert f"pm.max_children = {expected}\n" in pool


def test_timeouts_agree_across_nginx_php_fpm_and_php() -> None:
    assert "fastcgi_read_timeout 60s;" in files.nginx_conf(SETTINGS)
    assert "request_terminate_timeout = 60s" in files.php_fpm_conf(SETTINGS)
    assert "max_execution_time = 60" in files.php_ini(SETTINGS)
    assert "client_max_body_size 64m;" in files.nginx_conf(SETTINGS)
    assert "post_max_size = 72M" in files.php_ini(SETTINGS)


def test_render_refuses_a_missing_placeholder() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        files.render("php.ini.tmpl", upload_max_mb=1)
