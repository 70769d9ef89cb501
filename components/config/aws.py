"""The `aws` section: settings of the AWS account the stack uses (the CloudTrail audit trail)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from components.config.base import _Strict


# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy `retentionInDays`,
# the same list pulumi-aws 7.51.1 documents for `cloudwatch.LogGroup.retention_in_days`).
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)


class AuditTrailCloudWatchSection(_Strict):
    """`aws.auditTrail.cloudWatchLogs`: also deliver the trail's events to a CloudWatch log group
    (searchable, and the place for metric filters and alarms); off by default (ingestion costs)."""

    enabled: bool = False
    retentionDays: int = 90

    @field_validator("retentionDays")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch Logs retention period; use one of "
                + ", ".join(str(d) for d in CLOUDWATCH_RETENTION_DAYS)
            )
        return value


class AuditTrailSection(_Strict):
    """`aws.auditTrail`: a CloudTrail trail of the AWS account the stack uses (components/audit_trail.py).

    enabled: default on in production where the stack uses AWS, off elsewhere (one account-wide,
        multi-region trail per account is enough; a second copy of management events is billed).
    retentionDays: log files (and their digests) expire from the bucket after this many days.
    transitionDays: log files move to Glacier Instant Retrieval after this many days (S3 needs
        30 days in STANDARD first); null keeps them in STANDARD.
    """

    enabled: bool | None = None
    retentionDays: int = Field(default=365, ge=30, le=3650)
    transitionDays: int | None = Field(default=90, ge=30)
    cloudWatchLogs: AuditTrailCloudWatchSection = AuditTrailCloudWatchSection()

    @model_validator(mode="after")
    def _days(self) -> "AuditTrailSection":
        if self.transitionDays is not None and self.transitionDays >= self.retentionDays:
            raise ValueError(
                f"transitionDays ({self.transitionDays}) must be less than retentionDays ({self.retentionDays}): "
                "a log file would expire before it is moved to Glacier (or set transitionDays: null)"
            )
        return self


class AwsSection(_Strict):
    """`aws`: settings of the AWS account the stack uses (not the provider's own `aws:` namespace)."""

    auditTrail: AuditTrailSection = AuditTrailSection()
