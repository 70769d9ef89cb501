"""Render the Laravel web pod's configuration files (nginx, php-fpm pool, php.ini overrides).

The templates in `components/files/` are the real files; this module only fills in numbers
derived from config, so the tests can hand the result to the real programs (`nginx -t`,
`php-fpm8.2 -t`, `php`). `pm.max_children` follows from the php-fpm container's memory limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from components.config import OPCACHE_MB, php_max_children

# The templates stay with the other data files in components/files/.
FILES = Path(__file__).resolve().parent.parent / "files"
_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")

HTTP_PORT = 8080
STATUS_PORT = 8081
FASTCGI_ADDRESS = "127.0.0.1:9000"
APP_ROOT = "/var/www/html"
# nginx serves the public directory the init container copied out of the app image.
DOCUMENT_ROOT = "/srv/public"
# Request bodies nginx buffers and the upload temp files PHP writes: a volume of their own
# (mounted in both containers), so large uploads cannot fill /tmp and get the pod evicted.
UPLOAD_TMP_DIR = "/var/tmp/uploads"


@dataclass(frozen=True)
class PhpSettings:
    """What the files are rendered from.

    memory_limit_mb: the php-fpm container's memory limit; worker_mb: expected resident memory
    of one worker; php_memory_limit_mb: PHP's per-request ceiling; upload_max_mb: largest upload;
    request_timeout: seconds a request may run (nginx, php-fpm and PHP agree on it);
    grace_seconds: the pod's termination grace period (php-fpm finishes requests within it).
    """

    memory_limit_mb: int
    worker_mb: int
    php_memory_limit_mb: int
    upload_max_mb: int
    request_timeout: int
    grace_seconds: int

    @property
    def max_children(self) -> int:
        return php_max_children(self.memory_limit_mb, self.worker_mb)


def upload_volume_mb(settings: PhpSettings, copies: int) -> int:
    """Room for every php-fpm worker handling a maximal upload at once, `copies` times over
    (nginx's buffered body plus PHP's temp file), plus 64 MiB of slack."""
    return settings.max_children * (settings.upload_max_mb + 8) * copies + 64


def render(template: str, **values: object) -> str:
    """Fill `{{ name }}` placeholders; every placeholder must be given and every value used."""
    text = (FILES / template).read_text()
    wanted = set(_PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise ValueError(f"{template}: placeholders {sorted(wanted)} but values {sorted(values)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def nginx_conf(settings: PhpSettings) -> str:
    return render(
        "nginx.conf.tmpl",
        upload_max_mb=settings.upload_max_mb,
        http_port=HTTP_PORT,
        status_port=STATUS_PORT,
        document_root=DOCUMENT_ROOT,
        app_root=APP_ROOT,
        fastcgi_address=FASTCGI_ADDRESS,
        request_timeout=settings.request_timeout,
        upload_tmp_dir=UPLOAD_TMP_DIR,
    )


def php_fpm_conf(settings: PhpSettings) -> str:
    children = settings.max_children
    start = max(1, children // 4)
    return render(
        "php-fpm.conf.tmpl",
        listen=FASTCGI_ADDRESS,
        memory_limit_mb=settings.memory_limit_mb,
        max_children=children,
        start_servers=start,
        min_spare=start,
        max_spare=max(start, children // 2),
        request_timeout=settings.request_timeout,
        process_control_timeout=max(5, settings.grace_seconds - 10),
    )


def php_ini(settings: PhpSettings) -> str:
    return render(
        "php.ini.tmpl",
        php_memory_limit_mb=settings.php_memory_limit_mb,
        upload_max_mb=settings.upload_max_mb,
        # The body of a form upload is slightly larger than the file it carries.
        post_max_mb=settings.upload_max_mb + 8,
        request_timeout=settings.request_timeout,
        opcache_mb=OPCACHE_MB,
        upload_tmp_dir=UPLOAD_TMP_DIR,
    )


def ini_keys(text: str) -> list[str]:
    """The directive names an ini file sets (for the unknown-key check)."""
    keys = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith((";", "[")) and "=" in line:
            keys.append(line.split("=", 1)[0].strip())
    return keys
