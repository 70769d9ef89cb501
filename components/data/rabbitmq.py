"""RabbitMQ: the RabbitMQ Cluster Operator and Messaging Topology Operator, a `RabbitmqCluster`,
and the application's topology as custom resources.

What is deployed:

- the operators from their pinned upstream release manifests (no official Helm chart exists,
  Bitnami's is gone); the topology operator's webhook certificate comes from cert-manager, so
  it waits for what the caller lists in `depends_on`;
- a `RabbitmqCluster` (1 node in development, 3 elsewhere: quorum queues need a majority) with
  a persistent volume per node, explicit resources, the Prometheus plugin and a ServiceMonitor;
  the operator's pod template already satisfies the restricted Pod Security profile;
- the topology (`Topology` below): a vhost for the application, a user whose password is
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

`definitions(topology, password)` renders the same topology as a RabbitMQ definitions
document; the tests import it into a real `rabbitmq-server` to prove the wiring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import contracts
from components import k8s as kube
from components.platform import scraping
from components.config import ContainerSize, DEAD_LETTER_QUEUE, RabbitMQSection, StackConfig
from components.data import tls as data_tls
from components.platform.network import (
    DATA_CLIENT, PROMETHEUS_POD, egress_rule, ingress_rule, isolated_namespace, namespace_peer, network_policy, ports,
)
from components.platform.traefik import TRAEFIK_ROLE, allow_traefik_to

TYPE = "saas-platform:index:RabbitMQ"

CLUSTER_OPERATOR_VERSION = "v2.22.3"
TOPOLOGY_OPERATOR_VERSION = "v1.20.1"
# The operators' installation manifests, vendored (upstream/README.md says how they are made
# from the repositories at these tags): reviewable, diffable, expanded offline by synthesis.
MANIFESTS_DIR = Path(__file__).resolve().parent.parent.parent / "upstream" / "manifests" / "rabbitmq"
CLUSTER_OPERATOR_MANIFEST = MANIFESTS_DIR / "cluster-operator.yml"
# The variant that gets its webhook certificate from cert-manager (the plain one expects a
# hand-made Secret).
TOPOLOGY_OPERATOR_MANIFEST = MANIFESTS_DIR / "messaging-topology-operator-with-certmanager.yaml"
# Where both manifests install the operators. Both also carry this Namespace: it is created
# once, here (isolated like every other namespace), and dropped from both files, or the second
# create fails with AlreadyExists (pulumi-kubernetes >= 4.29 creates client-side).
OPERATOR_NAMESPACE = "rabbitmq-system"
OPERATOR_COMPONENT = "rabbitmq-operator"
# The operators' Deployments and the ports they serve: webhooks (API server -> 9443) and the
# cluster operator's plain-HTTP metrics (config/manager/manager.yaml `metrics` 8080). The
# topology operator's metrics are HTTPS with Kubernetes authn/authz (`--metrics-secure`).
CLUSTER_OPERATOR_POD = {"app.kubernetes.io/name": "rabbitmq-cluster-operator"}
TOPOLOGY_OPERATOR_POD = {"app.kubernetes.io/name": "messaging-topology-operator"}
OPERATOR_WEBHOOK_PORT = 9443
CLUSTER_OPERATOR_METRICS_PORT = 8080
# Requests of the operators in development (the manifests ask 200m/500Mi and 300m/128Mi).
DEV_OPERATOR_RESOURCES = ContainerSize("20m", "64Mi", "512Mi")
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

        operators_ns = _operator_namespace(name, cfg, namespace, args.peers, child)
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


def operator_manifest(path: Path, cfg: StackConfig) -> str:
    """The vendored manifest at `path` with the platform's changes (operator_object), as the
    YAML text of a yaml/v2 ConfigGroup. libyaml both ways: ~0.1 s for the two files."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    objects = [obj for obj in yaml.load_all(path.read_text(), Loader=loader) if obj]  # noqa: S506 - a safe loader
    kept = [obj for obj in objects if operator_object(obj, cfg)]
    return yaml.dump_all(kept, Dumper=dumper, sort_keys=False, default_flow_style=False)


def operator_object(obj: dict[str, Any], cfg: StackConfig) -> bool:
    """What the program changes in the vendored manifests, and nothing else (False: left out):

    - the Namespace is left out (created once, isolated, by `_operator_namespace`);
    - every object gets the platform's recommended labels on its metadata (and the operator
      pods on their template, which keeps matching the upstream selectors);
    - the Deployments roll with `maxUnavailable: 0` and a read-only root filesystem (the
      operators write nothing to disk; the topology operator's manifest already says so);
    - in development the operators ask for less (the manifests' requests are sized for a cluster).
    """
    kind = obj.get("kind")
    if kind == "Namespace":
        return False
    metadata = obj.setdefault("metadata", {})
    labels = metadata.get("labels") or {}
    name = labels.get("app.kubernetes.io/name") or "rabbitmq-operators"
    metadata["labels"] = {**labels, **kube.recommended_labels(name, OPERATOR_COMPONENT)}
    if kind != "Deployment":
        return True
    spec = obj["spec"]
    template = spec["template"]
    template["metadata"]["labels"] = {**kube.recommended_labels(name, OPERATOR_COMPONENT), **template["metadata"]["labels"]}
    spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    for container in template["spec"]["containers"]:
        container.setdefault("securityContext", {})["readOnlyRootFilesystem"] = True
        if cfg.environment == "development":
            container["resources"] = kube.resource_values(DEV_OPERATOR_RESOURCES)
    return True


def _operator_namespace(
    name: str,
    cfg: StackConfig,
    data_namespace: pulumi.Input[str],
    peers: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Namespace:
    """`rabbitmq-system` like every other namespace: default-deny, DNS, the Kubernetes API for
    both operators; the API server calls their webhooks; the topology operator reaches the
    management API of the cluster; Prometheus scrapes the cluster operator."""
    isolated = isolated_namespace(
        OPERATOR_NAMESPACE, "rabbitmq-operators", opts, api_server_cidrs=cfg.raw.network.apiServerCidrs
    )
    scoped = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[isolated.resource]))
    network_policy(
        f"{name}-operators-webhooks", "allow-webhooks", isolated.name, scoped,
        # Admission webhooks are called by the API server, whose address is not a pod.
        ingress=[ingress_rule(None, ports(OPERATOR_WEBHOOK_PORT))],
    )
    network_policy(
        f"{name}-operators-management-api", "allow-management-api", isolated.name, scoped,
        pods=TOPOLOGY_OPERATOR_POD,
        egress=[egress_rule([namespace_peer(data_namespace, CLUSTER_POD_LABELS)], ports(MANAGEMENT_PORT))],  # type: ignore[arg-type]
    )
    if "monitoring" in peers:
        network_policy(
            f"{name}-operators-metrics", "allow-prometheus-metrics", isolated.name, scoped,
            pods=CLUSTER_OPERATOR_POD,
            ingress=[ingress_rule([namespace_peer(peers["monitoring"], PROMETHEUS_POD)], ports(CLUSTER_OPERATOR_METRICS_PORT))],  # type: ignore[arg-type]
        )
    return isolated.resource


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


def _from_namespace(
    namespace: pulumi.Input[str], pods: Mapping[str, str] | None = None
) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pods)) if pods else None,
    )


def _tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in ports]


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
        rule(from_=[nodes], ports=_tcp(*CLUSTERING_PORTS, AMQP_PORT, MANAGEMENT_PORT)),
        # The topology operator declares vhosts, users and queues through the management API.
        rule(from_=[_from_namespace(OPERATOR_NAMESPACE, TOPOLOGY_OPERATOR_POD)], ports=_tcp(MANAGEMENT_PORT)),
    ]
    # Only the backend workloads, Traefik and Prometheus: not every pod of those namespaces.
    if "app" in peers:
        ingress.append(rule(from_=[_from_namespace(peers["app"], DATA_CLIENT)], ports=_tcp(client_port)))
    if "ingress" in peers:
        ingress.append(rule(from_=[_from_namespace(peers["ingress"], TRAEFIK_ROLE)], ports=_tcp(MANAGEMENT_PORT)))
    if "monitoring" in peers:
        ingress.append(rule(from_=[_from_namespace(peers["monitoring"], PROMETHEUS_POD)], ports=_tcp(PROMETHEUS_PORT)))
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
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[nodes], ports=_tcp(*CLUSTERING_PORTS, AMQP_PORT)),
                # Peer discovery asks the Kubernetes API for the cluster's endpoints; the API
                # server's address differs per cluster, so the port is the only stable handle.
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=_tcp(443, 6443)),
            ],
        ),
        opts=opts,
    )


__all__ = ["RabbitMQ", "RabbitMQArgs", "Topology", "definitions"]
