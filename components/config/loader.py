"""Reading and error reporting: the only module that reads `pulumi.Config`; `parse` validates a
plain mapping, `load` reads the stack's namespace, and every problem becomes one line naming its key.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, Collection, Literal, Mapping

import pulumi
from pydantic import BaseModel, ValidationError

from components.config.base import NAMESPACE, ConfigError
from components.config.raw import RawConfig
from components.config.secrets import OPTIONAL_SECRET_KEYS, SECRET_KEYS
from components.config.stack import StackConfig, resolve


_OBJECT_KEYS = {"frontend", "backend", "objectStorage", "rabbitmq", "edge", "ingress", "tls", "network", "data", "monitoring", "kubernetes", "aws"}

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown key",
    # pydantic says "a valid dictionary or instance of <ModelClass>": the class name is ours,
    # not the user's vocabulary.
    "model_type": "expected an object (a YAML mapping)",
    "model_attributes_type": "expected an object (a YAML mapping)",
    "dict_type": "expected an object (a YAML mapping)",
}


def _format(error: Mapping[str, Any]) -> str:
    path = ".".join(str(p) for p in error["loc"])
    kind = error["type"]
    message = error["msg"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        # A cross-field check names the key it is about (`candidateImage: ...`), relative to
        # the model that raised it.
        named = re.match(r"^([A-Za-z][\w.]*): (.*)$", message)
        if named:
            path = f"{path}.{named.group(1)}" if path else named.group(1)
            message = named.group(2)
    elif kind in _MESSAGES:
        message = _MESSAGES[kind]
        known = _known_keys(error["loc"][:-1]) if kind == "extra_forbidden" else []
        if known:
            message += f" (known keys: {', '.join(known)})"
    else:
        message = message[0].lower() + message[1:]
    key = f"{NAMESPACE}:{path}" if path else NAMESPACE
    return f"{key}: {message}"


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = RawConfig
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        model = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return sorted(model.model_fields)


def parse(values: Mapping[str, Any], stack: str, secret_keys: Collection[str] = ()) -> StackConfig:
    """Validate a plain mapping of the namespace's keys; raise ConfigError listing every problem.

    `secret_keys` names the SECRET_KEYS that are set (their values never pass through here)."""
    problems: list[str] = []
    try:
        raw = RawConfig.model_validate(values)
    except ValidationError as exc:
        problems = [_format(e) for e in exc.errors(include_url=False)]
        raw = None
    if raw is not None:
        problems += _secret_key_problems(raw, set(secret_keys))
    if problems:
        raise ConfigError(sorted(dict.fromkeys(problems)))
    return resolve(stack, raw)


def required_secret_keys(raw: RawConfig) -> dict[str, str]:
    """The SECRET_KEYS this configuration uses, each with the reason it is needed."""
    needs: dict[str, str] = {}
    if raw.objectStorage.engine == "minio":
        needs |= {key: "with objectStorage.engine minio" for key in ("minioAccessKey", "minioSecretKey")}
    if raw.edge.dns == "cloudflare":
        # A token with Zone:DNS:Edit and Zone:Zone:Read on the zone.
        needs["cloudflareDns01Token"] = "when edge.dns is cloudflare"
    return needs


def _secret_key_problems(raw: RawConfig, present: set[str]) -> list[str]:
    """Secret keys must be set exactly when the configuration uses them."""
    needs = required_secret_keys(raw)
    needed = set(needs)
    problems = [
        f"{NAMESPACE}:{key}: is required {needs[key]} (pulumi config set --secret {key} ...)"
        for key in sorted(needed - present)
    ]
    problems += [
        f"{NAMESPACE}:{key}: is set but unused ({SECRET_KEYS[key]}); remove it"
        for key in sorted(present - needed - OPTIONAL_SECRET_KEYS)
    ]
    return problems


def _namespace_values() -> tuple[dict[str, Any], list[str]]:
    """Every `saas-platform:*` key the engine passed, decoded; plus decoding problems."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    values: dict[str, Any] = {}
    problems: list[str] = []
    config = pulumi.Config(NAMESPACE)
    for full_key in sorted(keys):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE and _near_miss(namespace):
            problems.append(
                f"{full_key}: unknown config namespace '{namespace}' (did you mean {NAMESPACE}:{key}?); "
                "the key would be ignored"
            )
            continue
        if namespace != NAMESPACE or not key:
            continue
        if key in SECRET_KEYS:
            # Read as a secret Output in load(); a plain value here would sit in clear text
            # in the stack file and in the state.
            if not runtime_config.is_config_secret(full_key):
                problems.append(f"{NAMESPACE}:{key}: must be set as a secret (pulumi config set --secret {key} ...)")
            problems += _secret_shape_problems(key)
            continue
        text = config.get(key)
        if text is None:
            continue
        if key in _OBJECT_KEYS:
            try:
                values[key] = json.loads(text)
            except json.JSONDecodeError:
                problems.append(f"{NAMESPACE}:{key}: expected an object (a YAML mapping), got {text!r}")
        else:
            values[key] = text
    return values, problems


# Namespaces other programs read from the same stack file (providers, the engine itself): never
# mistaken for a typo of ours, however close they look.
PROVIDER_NAMESPACES = {"pulumi", "kubernetes", "aws", "cloudflare", "random", "tls", "command"}


def _near_miss(namespace: str) -> bool:
    """A namespace that is almost `saas-platform` (`saas-platfrom`, `saas_platform`,
    `saasplatform`): a typo whose keys would be silently ignored by every program."""
    import difflib

    if namespace in PROVIDER_NAMESPACES or not namespace:
        return False
    folded = re.sub(r"[^a-z0-9]", "", namespace.lower())
    if folded == re.sub(r"[^a-z0-9]", "", NAMESPACE):
        return True
    return difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.8


def load() -> StackConfig:
    """Read and validate the stack's configuration. Call before registering any resource."""
    values, problems = _namespace_values()
    present = _secret_keys_set()
    try:
        resolved = parse(values, pulumi.get_stack(), present)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(sorted(dict.fromkeys(problems)))
    config = pulumi.Config(NAMESPACE)
    secrets = {key: config.require_secret(key) for key in sorted(present)}
    return replace(resolved, secrets=secrets, alert_webhook_url=secrets.get("alertWebhookUrl"), alert_webhook_kind=_webhook_kind())


def _secret_shape_problems(key: str) -> list[str]:
    """Check a secret key's shape without ever putting its value into a message."""
    from pulumi.runtime import config as runtime_config

    plain = runtime_config.get_config(f"{NAMESPACE}:{key}")
    # Offline synth cannot decrypt `secure:` values and hands a placeholder instead.
    if plain is not None and plain.startswith("synth-placeholder-"):
        return []
    if key == "alertWebhookUrl" and plain is not None and not re.match(r"^https://[^\s/]+(/\S*)?$", plain):
        return [f"{NAMESPACE}:{key}: expected an https:// webhook URL (the value is secret and not shown)"]
    return []


def _webhook_kind() -> Literal["slack", "webhook"] | None:
    from pulumi.runtime import config as runtime_config

    plain = runtime_config.get_config(f"{NAMESPACE}:alertWebhookUrl")
    if plain is None:
        return None
    return "slack" if plain.startswith("https://hooks.slack.com/") else "webhook"


def _secret_keys_set() -> set[str]:
    """The SECRET_KEYS the stack sets (secret or not: a plain one is reported separately)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {key for key in SECRET_KEYS if f"{NAMESPACE}:{key}" in keys}
