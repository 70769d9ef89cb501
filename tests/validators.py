"""Where the validator programs are. PHP differs per distribution (Debian 12 ships 8.2, Ubuntu
22.04 8.1, Ubuntu 24.04 8.3, Debian 13 8.4; scripts/system-deps.sh installs the one there is):
the tests use whichever `php-fpm<version>` is installed, with the `php<version>` of the same
version."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
_FPM = re.compile(r"^php-fpm(\d+\.\d+)$")


def tool(name: str) -> str:
    path = shutil.which(name, path=SEARCH_PATH)
    assert path, f"{name} is missing: run `make system-deps`"
    return path


def php_version() -> str:
    """The highest PHP version with php-fpm installed (`8.2` for /usr/sbin/php-fpm8.2)."""
    found = set()
    for directory in SEARCH_PATH.split(os.pathsep):
        if directory and Path(directory).is_dir():
            found |= {m.group(1) for p in Path(directory).iterdir() if (m := _FPM.match(p.name)) and os.access(p, os.X_OK)}
    assert found, "no php-fpm<version> is installed: run `make system-deps` (scripts/system-deps.sh picks the distribution's PHP)"
    return max(found, key=lambda v: tuple(int(part) for part in v.split(".")))


def php_fpm() -> str:
    return tool(f"php-fpm{php_version()}")


def php_cli() -> str:
    """The PHP CLI of the same version as php-fpm (php.ini directives differ between versions)."""
    return tool(f"php{php_version()}")
