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


def matching(pattern: re.Pattern[str], expected: str) -> AfterValidator:
    """The validator of a string value type: `pattern` must match, else the error reads
    "'<value>' is not <expected>" (the value the user wrote and what we expected instead)."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"'{value}' is not {expected}")
        return value

    return AfterValidator(check)


DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# A Kubernetes storage quantity such as 10Gi or 500Mi.
QUANTITY_RE = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")
StorageSize = Annotated[str, matching(QUANTITY_RE, "a storage size such as 10Gi (Mi, Gi or Ti)")]


EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
Email = Annotated[str, matching(EMAIL_RE, "an e-mail address such as ops@example.com")]
