"""The application's messaging topology (`Topology`) and the same as a RabbitMQ definitions
document (`definitions`): the tests import it into a real `rabbitmq-server` to prove the wiring
that rabbitmq.py declares as custom resources (its docstring says why dead-lettering is a
policy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from components.config import DEAD_LETTER_QUEUE, RabbitMQSection


@dataclass(frozen=True)
class Topology:
    """The application's messaging topology, independent of how it is declared.

    vhost: the application's virtual host; user: its user name; queues: the quorum queues the
    workers consume; dead_letter_exchange / dead_letter_queue: where rejected or expired
    messages go; delivery_limit: redeliveries before a message is dead-lettered.
    """

    vhost: str
    user: str
    queues: tuple[str, ...]
    delivery_limit: int
    dead_letter_exchange: str = DEAD_LETTER_QUEUE
    dead_letter_queue: str = DEAD_LETTER_QUEUE
    policy_name: str = "dead-lettering"

    @classmethod
    def from_config(cls, section: RabbitMQSection) -> "Topology":
        return cls(vhost="app", user="app", queues=tuple(section.queues), delivery_limit=section.deliveryLimit)

    @property
    def policy_pattern(self) -> str:
        """Matches exactly the application queues (not the dead-letter queue itself)."""
        return "^(" + "|".join(re.escape(q) for q in self.queues) + ")$"

    # `queues`, not `quorum_queues`: the pattern already names only our (quorum) queues, and
    # `queues` is understood by every broker version, including the 3.10 the tests import into.
    policy_applies_to: str = "queues"

    @property
    def policy_definition(self) -> dict[str, Any]:
        return {
            "dead-letter-exchange": self.dead_letter_exchange,
            "dead-letter-strategy": "at-least-once",
            "overflow": "reject-publish",
            "delivery-limit": self.delivery_limit,
        }


def definitions(topology: Topology, password: str) -> dict[str, Any]:
    """The topology as a RabbitMQ definitions document (`rabbitmqctl import_definitions`)."""
    vhost = topology.vhost
    quorum = {"x-queue-type": "quorum"}
    return {
        "vhosts": [{"name": vhost, "metadata": {"default_queue_type": "quorum"}}],
        "users": [{"name": topology.user, "password": password, "tags": []}],
        "permissions": [
            {"user": topology.user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        ],
        "queues": [
            {"name": q, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": dict(quorum)}
            for q in (*topology.queues, topology.dead_letter_queue)
        ],
        "exchanges": [
            {
                "name": topology.dead_letter_exchange, "vhost": vhost, "type": "fanout",
                "durable": True, "auto_delete": False, "internal": False, "arguments": {},
            }
        ],
        "bindings": [
            {
                "source": topology.dead_letter_exchange, "vhost": vhost, "destination": topology.dead_letter_queue,
                "destination_type": "queue", "routing_key": "", "arguments": {},
            }
        ],
        "policies": [
            {
                "name": topology.policy_name, "vhost": vhost, "pattern": topology.policy_pattern,
                "apply-to": topology.policy_applies_to, "priority": 10, "definition": topology.policy_definition,
            }
        ],
    }
