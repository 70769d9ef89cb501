"""RabbitMQ: the RabbitMQ Cluster Operator and Messaging Topology Operator, a `RabbitmqCluster`,
and the application's topology as custom resources.

What is deployed:

- the operators from their pinned upstream release manifests (rabbitmq_operators.py: no
  official Helm chart exists, Bitnami's is gone); the topology operator's webhook certificate
  comes from cert-manager, so it waits for what the caller lists in `depends_on`;
- a `RabbitmqCluster` (1 node in development, 3 elsewhere: quorum queues need a majority) with
  a persistent volume per node, explicit resources, the Prometheus plugin and a ServiceMonitor;
  the operator's pod template already satisfies the restricted Pod Security profile;
- the topology (`Topology`, rabbitmq_definitions.py): a vhost for the application, a user whose password is
  generated here, a permission scoped to that vhost, one quorum queue per configured name, a
  dead-letter exchange bound to a dead-letter queue, and a policy that dead-letters from every
  application queue with the at-least-once strategy, the configured delivery limit and
  `overflow: reject-publish` (at-least-once dead-lettering requires it);
- the management UI on `rabbitmq.<domain>` behind the platform's admin guard in staging and
  production; in development it is internal only (`kubectl port-forward svc/rabbitmq 15672`);
- NetworkPolicies: AMQP from the app namespace, the UI from the ingress namespace and the
  topology operator, metrics from the monitoring namespace, clustering between the nodes.

Dead-lettering is a policy rather than queue arguments because a policy can change (a new
delivery limit) without deleting and redeclaring the queues, which quorum queues would need.

`rabbitmq_definitions.definitions(topology, password)` renders the same topology as a RabbitMQ
definitions document; the tests import it into a real `rabbitmq-server` to prove the wiring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import contracts
from components import k8s as kube
from components.platform import scraping
from components.config import ContainerSize, RabbitMQSection, StackConfig
from components.data import tls as data_tls
from components.data.common import tcp
from components.data.rabbitmq_definitions import Topology
from components.data.rabbitmq_operators import (
    CLUSTER_OPERATOR_MANIFEST,
    CLUSTER_OPERATOR_POD,
    OPERATOR_COMPONENT,
    OPERATOR_NAMESPACE,
    TOPOLOGY_OPERATOR_MANIFEST,
    TOPOLOGY_OPERATOR_POD,
    operator_manifest,
    operator_namespace,
)
from components.platform.network import DATA_CLIENT, PROMETHEUS_POD, namespace_peer
from components.platform.traefik import TRAEFIK_ROLE, allow_traefik_to

TYPE = "saas-platform:index:RabbitMQ"
# The broker image cluster-operator v2.22.3 defaults to, pinned so an operator upgrade does not
# silently upgrade the broker.
RABBITMQ_IMAGE = "rabbitmq:4.2.6-management"

CLUSTER_NAME = "rabbitmq"
COMPONENT = "rabbitmq"
AMQP_PORT = 5672
MANAGEMENT_PORT = 15672
PROMETHEUS_PORT = 15692
# Erlang distribution and peer discovery between the nodes.
CLUSTERING_PORTS = (4369, 25672, 35672, 35673, 35674, 35675, 35676, 35677, 35678, 35679, 35680, 35681, 35682)
# The operator labels every pod and Service of the cluster with these (its own, not ours).
CLUSTER_POD_LABELS = {"app.kubernetes.io/name": CLUSTER_NAME, "app.kubernetes.io/component": "rabbitmq"}


@dataclass(frozen=True)
class RabbitMQArgs:
    """Inputs of RabbitMQ.

    config: the resolved stack configuration (environment, domain, `rabbitmq` section).
    namespace: the data namespace the cluster and its topology live in.
    admin_guard: the Traefik middleware that guards admin UIs (staging and production).
    peers: namespace per concern (`app`, `ingress`, `monitoring`) for the NetworkPolicies:
        the app connects over AMQP, the ingress reaches the UI, monitoring scrapes metrics.
    depends_on: what must exist before the operators (cert-manager: both release manifests
        carry cert-manager Issuers and Certificates for their webhooks since cluster-operator v2.22).
    traefik_crds / monitoring_crds: the releases installing the IngressRoute and
        ServiceMonitor CRDs.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    admin_guard: contracts.MiddlewareRef
    peers: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()
    traefik_crds: Sequence[pulumi.Resource] = ()
    monitoring_crds: Sequence[pulumi.Resource] = ()
    # The server certificate (DataTLS.rabbitmq) when `data.tls` is on: clients then use AMQPS.
    tls_dependencies: Sequence[pulumi.Resource] = ()


class RabbitMQ(pulumi.ComponentResource):
    """A RabbitMQ cluster with the application's vhost, user, quorum queues and dead-lettering."""

    connection_url: pulumi.Output[str]
    """Secret: `amqp://app:<password>@<host>:5672/<vhost, URL-encoded>`; with `data.tls`
    `amqps://...:5671/...`."""
    host: pulumi.Output[str]
    """In-cluster DNS name of the client Service."""
    port: pulumi.Output[int]
    vhost: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    """Secret."""
    queues: pulumi.Output[list[str]]
    """The application's queues, in configuration order (the first is Laravel's default)."""
    dead_letter_queue: pulumi.Output[str]

    def __init__(self, name: str, args: RabbitMQArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        self._config = cfg
        section = cfg.raw.rabbitmq
        topology = Topology.from_config(section)
        namespace = args.namespace
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=cfg.protect, retain_on_delete=cfg.is_production)

        operators_ns = operator_namespace(
            name, cfg, namespace, args.peers, child, cluster_pods=CLUSTER_POD_LABELS, management_port=MANAGEMENT_PORT
        )
        # Since v2.22.0 the cluster operator's manifest carries its own cert-manager Issuer and
        # Certificates for its webhooks (cluster-operator v2.22.3 config/installation/
        # kustomization.yaml includes ../webhook and ../certmanager): cert-manager first.
        # Each file is one provider-side `yaml/v2` ConfigGroup holding the platform's version of
        # it (operator_manifest): a single registration for the program, where the SDK-side
        # `yaml.ConfigFile` (v1) registered and serialized ~44 objects, 14 of them large CRDs,
        # half of a synthesis' time. The provider registers the objects under the group
        # (pulumi-kubernetes provider/pkg/provider/yaml/v2/configgroup.go, v4.32.0); synth does
        # the same offline from the `yaml` input (synth/yaml_v2.py). The provider's Construct
        # runs once the group's depends_on are done, so every object waits for them; and a
        # dependency on the group waits for every object it created.
        first = [operators_ns, *args.depends_on]
        cluster_operator = k8s.yaml.v2.ConfigGroup(
            f"{name}-cluster-operator",
            yaml=operator_manifest(CLUSTER_OPERATOR_MANIFEST, cfg),
            opts=pulumi.ResourceOptions(parent=self, depends_on=first),
        )
        # The topology operator's webhooks and CRDs build on the cluster operator's.
        topology_operator = k8s.yaml.v2.ConfigGroup(
            f"{name}-topology-operator",
            yaml=operator_manifest(TOPOLOGY_OPERATOR_MANIFEST, cfg),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*first, cluster_operator]),
        )

        cluster = k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version="rabbitmq.com/v1beta1",
            kind="RabbitmqCluster",
            metadata=kube.metadata(CLUSTER_NAME, COMPONENT, namespace),
            spec=_cluster_spec(cfg, section),
            opts=pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(depends_on=[cluster_operator, *args.tls_dependencies])
            ),
        )
        if cfg.highly_available:
            # The operator creates no PodDisruptionBudget (v2.22.3): drains evict one broker at
            # a time, so two of three quorum members always stay.
            kube.disruption_budget(
                f"{CLUSTER_NAME}-brokers", COMPONENT, namespace,
                {"app.kubernetes.io/name": CLUSTER_NAME, "app.kubernetes.io/component": "rabbitmq"},
                app=CLUSTER_NAME, opts=child,
            )
        cluster_ref = {"name": CLUSTER_NAME}
        topology_opts = pulumi.ResourceOptions(parent=self, depends_on=[topology_operator, cluster])
        kept = "retain" if cfg.is_production else "delete"

        def custom(resource: str, kind: str, object_name: str, spec: dict[str, Any],
                   options: pulumi.ResourceOptions = topology_opts) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                f"{name}-{resource}",
                api_version="rabbitmq.com/v1beta1",
                kind=kind,
                metadata=kube.metadata(object_name, COMPONENT, namespace, app=CLUSTER_NAME),
                spec={"rabbitmqClusterReference": cluster_ref, **spec},
                opts=options,
            )

        vhost = custom("vhost", "Vhost", f"vhost-{topology.vhost}", {
            "name": topology.vhost, "defaultQueueType": "quorum", "deletionPolicy": kept,
        })
        after_vhost = pulumi.ResourceOptions(parent=self, depends_on=[topology_operator, cluster, vhost])

        password = random.RandomPassword(
            f"{name}-app-password", length=40, special=False, opts=child
        )
        credentials = k8s.core.v1.Secret(
            f"{name}-app-credentials",
            metadata=kube.metadata("rabbitmq-app-credentials", COMPONENT, namespace, app=CLUSTER_NAME),
            type="Opaque",
            string_data={"username": topology.user, "password": password.result},
            opts=child,
        )
        user = custom("user", "User", f"user-{topology.user}", {
            "importCredentialsSecret": {"name": credentials.metadata.name},
            "tags": [],
        })
        custom("permission", "Permission", f"permission-{topology.user}-{topology.vhost}", {
            "vhost": topology.vhost,
            "userReference": {"name": f"user-{topology.user}"},
            # Scoped to the application's own vhost; inside it the driver may declare the
            # delay queues Laravel's delayed jobs use, hence configure on every name.
            "permissions": {"configure": ".*", "write": ".*", "read": ".*"},
        }, pulumi.ResourceOptions(parent=self, depends_on=[topology_operator, cluster, vhost, user]))

        for queue in (*topology.queues, topology.dead_letter_queue):
            custom(f"queue-{queue}", "Queue", f"queue-{queue}", {
                "name": queue, "vhost": topology.vhost, "type": "quorum", "durable": True,
                "autoDelete": False, "deletionPolicy": kept,
            }, after_vhost)
        exchange = custom("exchange-dead-letter", "Exchange", f"exchange-{topology.dead_letter_exchange}", {
            "name": topology.dead_letter_exchange, "vhost": topology.vhost, "type": "fanout",
            "durable": True, "autoDelete": False,
        }, after_vhost)
        custom("binding-dead-letter", "Binding", f"binding-{topology.dead_letter_exchange}", {
            "vhost": topology.vhost, "source": topology.dead_letter_exchange,
            "destination": topology.dead_letter_queue, "destinationType": "queue", "routingKey": "",
        }, pulumi.ResourceOptions(parent=self, depends_on=[topology_operator, cluster, vhost, exchange]))
        custom("policy-dead-lettering", "Policy", f"policy-{topology.policy_name}", {
            "name": topology.policy_name, "vhost": topology.vhost, "pattern": topology.policy_pattern,
            "applyTo": topology.policy_applies_to, "priority": 10, "definition": topology.policy_definition,
        }, after_vhost)

        self._monitoring(name, namespace, cluster, args.monitoring_crds)
        if args.monitoring_crds:
            # The cluster operator's reconcile metrics (plain HTTP, port `metrics`). The topology
            # operator serves its metrics only over HTTPS with Kubernetes authn/authz
            # (`--metrics-secure`, config/default/manager_metrics_patch.yaml v1.20.1): not scraped.
            scraping.pod_monitor(
                "rabbitmq-cluster-operator", operators_ns.metadata.name, component=OPERATOR_COMPONENT,
                selector=CLUSTER_OPERATOR_POD, port="metrics", crds=args.monitoring_crds[0], parent=self,
            )
        if cfg.environment != "development":
            _management_route(
                name, cfg.domain, namespace, args.admin_guard,
                pulumi.ResourceOptions(parent=self, depends_on=list(args.traefik_crds)),
            )
            if "ingress" in args.peers:
                allow_traefik_to(
                    f"{name}-traefik-to-management", "traefik-to-rabbitmq-management", args.peers["ingress"],
                    namespace, dict(CLUSTER_POD_LABELS), MANAGEMENT_PORT, child,
                )
        tls = data_tls.enabled(cfg)
        client_port = data_tls.AMQPS_PORT if tls else AMQP_PORT
        _network_policies(name, namespace, args.peers, child, client_port)

        self.host = pulumi.Output.concat(CLUSTER_NAME, ".", namespace, ".svc.cluster.local")
        self.port = pulumi.Output.from_input(client_port)
        self.vhost = pulumi.Output.from_input(topology.vhost)
        self.username = pulumi.Output.from_input(topology.user)
        self.password = pulumi.Output.secret(password.result)
        self.queues = pulumi.Output.from_input(list(topology.queues))
        self.dead_letter_queue = pulumi.Output.from_input(topology.dead_letter_queue)
        self.connection_url = pulumi.Output.secret(
            pulumi.Output.all(self.host, password.result).apply(
                lambda parts: f"{'amqps' if tls else 'amqp'}://{quote(topology.user, safe='')}:{quote(parts[1], safe='')}"
                f"@{parts[0]}:{client_port}/{quote(topology.vhost, safe='')}"
            )
        )
        self.register_outputs({
            "connection_url": self.connection_url, "host": self.host, "port": self.port,
            "vhost": self.vhost, "username": self.username, "password": self.password,
            "queues": self.queues, "dead_letter_queue": self.dead_letter_queue,
        })

    def _monitoring(
        self, name: str, namespace: pulumi.Input[str], cluster: pulumi.Resource, crds: Sequence[pulumi.Resource]
    ) -> None:
        """Scrape the Prometheus plugin: aggregated metrics plus per-queue depth (`/metrics/detailed`).

        With `data.tls` the operator's client Service offers `prometheus-tls` (15691) instead of
        `prometheus` (cluster-operator v2.22.3 internal/resource/service.go: "either 15692 or
        15691 in the Service, but not both") while the pods still listen on `prometheus` 15692
        (internal/resource/statefulset.go updateContainerPorts): a PodMonitor keeps scraping
        that port. Metrics carry counts and queue names, no credentials or message bodies."""
        tls = data_tls.enabled(self._config)
        kind, key = ("PodMonitor", "podMetricsEndpoints") if tls else ("ServiceMonitor", "endpoints")
        k8s.apiextensions.CustomResource(
            f"{name}-{'pod' if tls else 'service'}-monitor",
            api_version="monitoring.coreos.com/v1",
            kind=kind,
            metadata=kube.metadata(CLUSTER_NAME, COMPONENT, namespace),
            spec={
                "selector": {"matchLabels": dict(CLUSTER_POD_LABELS)},
                key: [
                    {"port": "prometheus", "scheme": "http", "interval": "30s", "scrapeTimeout": "25s"},
                    {
                        "port": "prometheus", "scheme": "http", "path": "/metrics/detailed",
                        "params": {"family": ["queue_coarse_metrics"]},
                        "interval": "30s", "scrapeTimeout": "25s",
                    },
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, *crds]),
        )


def _cluster_spec(cfg: StackConfig, section: RabbitMQSection) -> dict[str, Any]:
    highly_available = cfg.highly_available
    # Development fits a laptop: one small node (quorum queues and the management UI still run).
    size = ContainerSize("1", "2Gi", "2Gi") if highly_available else ContainerSize("100m", "512Mi", "512Mi")
    return {
        # Quorum queues tolerate the loss of a minority: three nodes survive one failure.
        "replicas": 3 if highly_available else 1,
        "image": RABBITMQ_IMAGE,
        "persistence": {"storage": section.storage},
        "resources": kube.resource_values(size),
        "rabbitmq": {
            # Essential for the operator already; listed so the intent survives a default change.
            "additionalPlugins": ["rabbitmq_prometheus"],
            # Keep memory headroom below the container limit; quorum queues keep data on disk.
            # Continuous membership reconciliation: a quorum queue declared while a node was
            # away (or a node replaced with an empty disk) regains its third member instead of
            # running on two for ever.
            "additionalConfig": (
                "vm_memory_high_watermark.relative = 0.7\ndisk_free_limit.absolute = 2GB\n"
                "quorum_queue.continuous_membership_reconciliation.enabled = true\n"
            ),
        },
        "service": {"type": "ClusterIP"},
        # AMQPS on 5671 with the data CA's certificate (components/data/tls.py).
        **({"tls": data_tls.rabbitmq_tls_spec()} if data_tls.enabled(cfg) else {}),
        # Never two brokers on one Kubernetes node: cluster-operator v2.22.3 adds only a zone
        # spread with ScheduleAnyway (internal/resource/statefulset.go:1245-1263), so one node's
        # loss could take two of three members and every quorum queue with them (review #11).
        **({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": CLUSTER_NAME, "app.kubernetes.io/component": "rabbitmq"}},
            "topologyKey": "kubernetes.io/hostname",
        }]}}} if highly_available else {}),
        # A node drains its quorum leaders before it stops; an hour bounds a stuck shutdown.
        "terminationGracePeriodSeconds": 3600 if highly_available else 60,
    }


def _management_route(
    name: str,
    domain: str,
    namespace: pulumi.Input[str],
    admin_guard: contracts.MiddlewareRef,
    opts: pulumi.ResourceOptions,
) -> None:
    k8s.apiextensions.CustomResource(
        f"{name}-management-route",
        api_version="traefik.io/v1alpha1",
        kind="IngressRoute",
        metadata=kube.metadata("rabbitmq-management", COMPONENT, namespace, app=CLUSTER_NAME),
        spec={
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "kind": "Rule",
                    "match": f"Host(`rabbitmq.{domain}`)",
                    "middlewares": [admin_guard.as_route_ref()],
                    "services": [{"name": CLUSTER_NAME, "port": MANAGEMENT_PORT}],
                }
            ],
            "tls": {},
        },
        opts=opts,
    )


def _network_policies(
    name: str, namespace: pulumi.Input[str], peers: Mapping[str, pulumi.Input[str]], opts: pulumi.ResourceOptions,
    client_port: int = AMQP_PORT,
) -> None:
    """Open exactly what the cluster needs on top of the namespace's default deny; the
    application reaches `client_port` only (AMQPS 5671 with `data.tls`)."""
    nodes = k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(CLUSTER_POD_LABELS))
    )
    rule = k8s.networking.v1.NetworkPolicyIngressRuleArgs
    ingress = [
        rule(from_=[nodes], ports=tcp(*CLUSTERING_PORTS, AMQP_PORT, MANAGEMENT_PORT)),
        # The topology operator declares vhosts, users and queues through the management API.
        rule(from_=[namespace_peer(OPERATOR_NAMESPACE, TOPOLOGY_OPERATOR_POD)], ports=tcp(MANAGEMENT_PORT)),
    ]
    # Only the backend workloads, Traefik and Prometheus: not every pod of those namespaces.
    if "app" in peers:
        ingress.append(rule(from_=[namespace_peer(peers["app"], DATA_CLIENT)], ports=tcp(client_port)))
    if "ingress" in peers:
        ingress.append(rule(from_=[namespace_peer(peers["ingress"], TRAEFIK_ROLE)], ports=tcp(MANAGEMENT_PORT)))
    if "monitoring" in peers:
        ingress.append(rule(from_=[namespace_peer(peers["monitoring"], PROMETHEUS_POD)], ports=tcp(PROMETHEUS_PORT)))
    selector = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(CLUSTER_POD_LABELS))
    k8s.networking.v1.NetworkPolicy(
        f"{name}-allow-ingress",
        metadata=kube.metadata("rabbitmq-allow-ingress", "network-policy", namespace, app=CLUSTER_NAME),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=selector, policy_types=["Ingress"], ingress=ingress),
        opts=opts,
    )
    k8s.networking.v1.NetworkPolicy(
        f"{name}-allow-egress",
        metadata=kube.metadata("rabbitmq-allow-egress", "network-policy", namespace, app=CLUSTER_NAME),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=selector,
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[nodes], ports=tcp(*CLUSTERING_PORTS, AMQP_PORT)),
                # Peer discovery asks the Kubernetes API for the cluster's endpoints; the API
                # server's address differs per cluster, so the port is the only stable handle.
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=tcp(443, 6443)),
            ],
        ),
        opts=opts,
    )


__all__ = ["RabbitMQ", "RabbitMQArgs"]
