"""Run the pack's policies in-process over synthesized resources, exactly as the analyzer
server does per resource (`Analyze`) and per stack (`AnalyzeStack`)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from saas_policies import POLICIES


def _options(record: Mapping[str, Any]) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=bool(record.get("protect")),
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=record.get("parent"),
    )


def evaluate(
    records: Iterable[Mapping[str, Any]],
    config: Mapping[str, Mapping[str, Any]] | None = None,
    policies: Iterable[Policy] = POLICIES,
) -> list[dict[str, Any]]:
    """Return every finding as {policy, level, urn, message}, sorted."""
    records = list(records)
    config = config or {}
    findings: list[dict[str, Any]] = []
    # The analyzer server deserializes a resource's inputs into a fresh unknown-checking proxy
    # per `Analyze` call; building one per (policy, resource) here cost a quarter of a dev
    # synthesis. Each resource's proxy and options, and the stack view, are built once and
    # shared by every policy: the rules only read them (none assigns into `args.props`).
    props = {r["urn"]: unknown_checking_proxy(r.get("inputs") or {}) for r in records}
    options = {r["urn"]: _options(r) for r in records}
    stack_view: list[PolicyResource] | None = None

    for policy in policies:
        level = (policy.enforcement_level or EnforcementLevel.MANDATORY).value
        policy_config = dict(config.get(policy.name, {}))

        def reporter(urn: str, name: str = policy.name, lvl: str = level):
            def report(message: str, reported_urn: str | None = None) -> None:
                findings.append({"policy": name, "level": lvl, "urn": reported_urn or urn, "message": message})

            return report

        if isinstance(policy, ResourceValidationPolicy):
            for record in records:
                if not record.get("custom"):
                    continue
                urn = record["urn"]
                args = ResourceValidationArgs(
                    record["type"], props[urn], urn, record["name"], options[urn], None, policy_config, {}
                )
                policy.validate(args, reporter(urn))
        elif isinstance(policy, StackValidationPolicy):
            if stack_view is None:
                stack_view = _stack_view(records, props, options)
            policy.validate(StackValidationArgs(stack_view, policy_config, {}), reporter(""))
    return sorted(findings, key=lambda f: (f["policy"], f["urn"], f["message"]))


def _stack_view(
    records: list[Mapping[str, Any]],
    props: Mapping[str, Any],
    options: Mapping[str, PolicyResourceOptions],
) -> list[PolicyResource]:
    """Every resource as `AnalyzeStack` hands it to a stack policy, parents and dependencies linked."""
    resources = {
        r["urn"]: PolicyResource(r["type"], props[r["urn"]], r["urn"], r["name"], options[r["urn"]], None, None, [], {})
        for r in records
    }
    for r in records:
        resource = resources[r["urn"]]
        resource.parent = resources.get(r.get("parent") or "")
        resource.dependencies = [resources[d] for d in r.get("dependencies", []) if d in resources]
    return list(resources.values())
