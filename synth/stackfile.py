"""Read `Pulumi.<stack>.yaml` the way the Pulumi CLI hands config to a program.

The engine passes every value as a string (objects JSON-encoded) and lists the secret keys.
`secure:` values are ciphertext only a secrets provider can open; offline we substitute a
readable placeholder and still mark the key secret, so the program takes the same code path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

PROJECT = "saas-platform"


class StackFileError(Exception):
    pass


def _placeholder(path: str) -> str:
    return f"synth-placeholder-{path.replace(':', '-').replace('.', '-')}"


def _replace_secure(value: Any, path: str) -> tuple[Any, bool]:
    """Swap nested `{secure: ...}` for placeholders; report whether any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return _placeholder(path), True
        found = False
        out = {}
        for key, item in value.items():
            out[key], nested = _replace_secure(item, f"{path}.{key}")
            found = found or nested
        return out, found
    if isinstance(value, list):
        found = False
        items = []
        for index, item in enumerate(value):
            replaced, nested = _replace_secure(item, f"{path}.{index}")
            items.append(replaced)
            found = found or nested
        return items, found
    return value, False


def _as_engine_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def load(path: Path) -> tuple[dict[str, str], list[str]]:
    """Return (config, secret_keys) of a stack file, keys fully qualified (`saas-platform:domain`)."""
    if not path.is_file():
        stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in path.parent.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {path}; known stacks: {', '.join(stacks)}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path.name} is not valid YAML: {exc}") from None
    raw = document.get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"{path.name}: `config:` must be a mapping")
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        value, is_secret = _replace_secure(value, full_key)
        config[full_key] = _as_engine_string(value)
        if is_secret:
            secret_keys.append(full_key)
    return config, sorted(secret_keys)


def fill_required_secrets(config: dict[str, str], secret_keys: list[str]) -> list[str]:
    """Give every secret the configuration requires but the stack file does not set a
    placeholder (marked secret, as `secure:` values get), and return a warning per key.

    The committed stack files carry no ciphertext (no secrets provider could open it); a user
    sets these with `pulumi config set --secret` before a real deploy. An invalid configuration
    is left alone: the program reports it."""
    from components import config as program_config

    values: dict[str, Any] = {}
    prefix = f"{PROJECT}:"
    for key, text in config.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        try:
            values[name] = json.loads(text) if name in program_config._OBJECT_KEYS else text
        except json.JSONDecodeError:
            return []
    if any(name in program_config.SECRET_KEYS for name in values):
        values = {k: v for k, v in values.items() if k not in program_config.SECRET_KEYS}
    try:
        raw = program_config.RawConfig.model_validate(values)
    except Exception:  # noqa: BLE001 - invalid config: the program's own check reports it
        return []
    warnings = []
    for name, reason in sorted(program_config.required_secret_keys(raw).items()):
        key = prefix + name
        if key in config:
            continue
        config[key] = _placeholder(key)
        secret_keys.append(key)
        warnings.append(
            f"{key} is not set (required {reason}); offline synth uses a placeholder. Before `pulumi up`: "
            f"pulumi config set --secret {name} <value>"
        )
    secret_keys.sort()
    return warnings
