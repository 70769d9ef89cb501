"""One IAM user per machine consumer, with one inline policy and one access key.

Shared by the SES SMTP user and the Route53 DNS-01 user (imported only where AWS is used).
A user per consumer, rather than one shared user, keeps every policy down to exactly the
actions and resources that consumer needs, and lets each key rotate on its own.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def user_with_key(
    resource_name: str,
    *,
    user_name: str,
    purpose: str,
    stack: str,
    policy: pulumi.Input[str],
    key_resource_name: str | None = None,
    parent: pulumi.Resource,
) -> aws.iam.AccessKey:
    """Create `<resource_name>-user`, its inline policy `purpose` and an access key.

    key_resource_name: resource name of the key; changing it rotates the key (new key first,
    consumers rewired, old key deleted), which is how `edge.mail.smtpKeyRotation` works.
    """
    child = pulumi.ResourceOptions(parent=parent)
    user = aws.iam.User(
        f"{resource_name}-user",
        name=user_name,
        path="/saas-platform/",
        tags={"purpose": purpose, "stack": stack},
        opts=child,
    )
    aws.iam.UserPolicy(f"{resource_name}-policy", user=user.name, name=purpose, policy=policy, opts=child)
    return aws.iam.AccessKey(key_resource_name or f"{resource_name}-key", user=user.name, opts=child)
