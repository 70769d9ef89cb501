"""The stack's RabbitMQ topology custom resources as a broker definitions document: what the
Messaging Topology Operator v1.20.1 declares for each (its mapping of CR fields onto the
broker's: internal/*_settings.go), so a real rabbitmq-server can hold the same topology."""

from __future__ import annotations

from typing import Any

from rehearsal.base import Build

PASSWORD = "rehearsal-app"  # noqa: S105 - a throwaway loopback broker's password


def definitions_from_objects(build: Build) -> dict[str, Any]:
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in ("vhosts", "users", "permissions", "queues", "exchanges", "bindings", "policies")}

    def of(kind: str) -> list[dict[str, Any]]:
        return [o.spec for o in build.of_kind(kind) if o.api_version.startswith("rabbitmq.com/")]

    for s in of("Vhost"):
        out["vhosts"].append({"name": s["name"], "metadata": {"default_queue_type": s.get("defaultQueueType", "classic")}})
    for s in of("Queue"):
        arguments = {"x-queue-type": s["type"]} if s.get("type") else {}
        out["queues"].append({"name": s["name"], "vhost": s.get("vhost", "/"), "durable": s.get("durable", False),
                              "auto_delete": s.get("autoDelete", False), "arguments": {**(s.get("arguments") or {}), **arguments}})
    for s in of("Exchange"):
        out["exchanges"].append({"name": s["name"], "vhost": s.get("vhost", "/"), "type": s.get("type", "direct"),
                                 "durable": s.get("durable", True), "auto_delete": s.get("autoDelete", False),
                                 "internal": False, "arguments": s.get("arguments") or {}})
    for s in of("Binding"):
        out["bindings"].append({"source": s["source"], "vhost": s.get("vhost", "/"), "destination": s["destination"],
                                "destination_type": s.get("destinationType", "queue"), "routing_key": s.get("routingKey", ""),
                                "arguments": s.get("arguments") or {}})
    for s in of("Policy"):
        out["policies"].append({"name": s["name"], "vhost": s.get("vhost", "/"), "pattern": s["pattern"],
                                "apply-to": s.get("applyTo", "all"), "priority": s.get("priority", 0),
                                "definition": s.get("definition") or {}})
    return out
