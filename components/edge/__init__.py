"""The platform's edge: public DNS records, the Cloudflare zone or Route53, SES mail and its
IAM users, Mailpit in development, and the AWS account's CloudTrail audit trail.

Modules: `records` (the DNS records model and shared names; imports no provider),
`component` (EdgeDNS), `cloudflare`, `route53`, `mail` (SES), `iam`, `mail_catcher`, `audit`.
The providers import `records`, never the reverse, and the cloud SDKs are imported only by the
modules that need them, loaded in the branch that uses them: the dev stack imports neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from components.edge.component import EdgeDNS, EdgeDNSArgs

if TYPE_CHECKING:
    from components.edge.audit import AuditTrail, AuditTrailArgs

__all__ = ["AuditTrail", "AuditTrailArgs", "EdgeDNS", "EdgeDNSArgs"]


def __getattr__(name: str) -> Any:
    # AuditTrail imports pulumi_aws at module level: load it only when a stack asks for it.
    if name in ("AuditTrail", "AuditTrailArgs"):
        from components.edge import audit

        return getattr(audit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
