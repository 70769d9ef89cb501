"""Shared pieces of every config section: the namespace, the literal vocabularies, ConfigError,
the strict base model and the value types more than one section validates (domain, e-mail,
storage size).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict


NAMESPACE = "saas-platform"

Environment = Literal["development", "staging", "production"]
Size = Literal["small", "medium", "large"]
StorageEngine = Literal["seaweedfs", "s3", "minio"]
DnsProvider = Literal["cloudflare", "route53", "none"]


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. The message lists every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  {p}" for p in problems))


class _Strict(BaseModel):
    # Unknown keys are almost always typos (`replica:` for `replicas:`); reject them.
    model_config = ConfigDict(extra="forbid", populate_by_name=False, frozen=True)


DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# A Kubernetes storage quantity such as 10Gi or 500Mi.
QUANTITY_RE = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")


def _storage_size(value: str) -> str:
    if not QUANTITY_RE.match(value):
        raise ValueError(f"'{value}' is not a storage size such as 10Gi (Mi, Gi or Ti)")
    return value


StorageSize = Annotated[str, AfterValidator(_storage_size)]


EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _email(value: str) -> str:
    if not EMAIL_RE.match(value):
        raise ValueError(f"'{value}' is not an e-mail address such as ops@example.com")
    return value


Email = Annotated[str, AfterValidator(_email)]
