"""The deployment's boundary: its namespace, and what its pods may reach and be reached by.

The namespace (unless it already exists) enforces the "restricted" Pod
Security Standard, so a pod that would run as root or keep capabilities is
refused by the cluster itself; while volumes are to outlive the stack,
`pulumi destroy` leaves it in place, as deleting it would delete them.

NetworkPolicies deny every snapthunder pod all traffic in and out but this:

| pods | may be reached by | may reach |
|---|---|---|
| shard | UI and loader pods, on PostgreSQL's port | nothing (PostgreSQL looks up no names and calls no one) |
| UI | anyone its Service admits, on the HTTP port | the shard pods' PostgreSQL port; kube-dns (UDP/TCP 53) |
| loader | nobody | as the UI, and the web (TCP 80 and 443, and `loadUrl`'s own port) |

Nothing else in the cluster can even try a shard password. The loader's web
access exists only with `loadUrl` (it downloads that URL with urllib, which
follows redirects, so both web ports are open whatever the URL's scheme); it
excludes the addresses where clouds serve instance credentials.
(`kubectl port-forward` enters the pod's own network namespace, so loading
from a laptop still works.)
"""

from __future__ import annotations

import dataclasses
import urllib.parse

import pulumi
import pulumi_kubernetes as kubernetes

import ui
import workloads
from snapthunder import shard_image

POD_SECURITY_LEVEL = "restricted"
# Where pods resolve names: CoreDNS keeps the kube-dns label on kubeadm, GKE, EKS and AKS clusters.
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
DNS_PORT = 53
WEB_PORTS = (80, 443)
# The web minus where clouds serve instance credentials: link-local addresses (169.254.169.254)
# and AWS's IPv6 metadata address.
WEB = {"0.0.0.0/0": ["169.254.0.0/16"], "::/0": ["fe80::/10", "fd00:ec2::254/128"]}


@dataclasses.dataclass(frozen=True)
class IsolationArgs:
    namespace: str
    create_namespace: bool
    keep_volumes: bool
    load_url: str | None


def url_port(url: str) -> int:
    """The TCP port an http(s) URL names, or its scheme's default."""
    parsed = urllib.parse.urlsplit(url)
    return parsed.port or {"http": 80, "https": 443}[parsed.scheme]


class Isolation(pulumi.ComponentResource):
    """The namespace every object lives in, and the network policies of its pods."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: IsolationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("snapthunder:infra:Isolation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.create_namespace:
            namespace = kubernetes.core.v1.Namespace(
                "namespace",
                metadata=workloads.metadata(args.namespace, None, {
                    workloads.NAME_LABEL: workloads.APP,
                    "pod-security.kubernetes.io/enforce": POD_SECURITY_LEVEL,
                    "pod-security.kubernetes.io/warn": POD_SECURITY_LEVEL,
                }),
                # Deleting a namespace deletes the volume claims in it, whatever the StatefulSets'
                # retention policy says: so volumes that must outlive the stack keep their namespace.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.keep_volumes),
            )
            # Everything declared in it then waits for the namespace to exist.
            self.namespace = namespace.metadata.name
        else:
            self.namespace = pulumi.Output.from_input(args.namespace)
        every_pod = {workloads.NAME_LABEL: workloads.APP}
        # Policies add up: a pod gets what any policy selecting it allows, so these two deny the rest.
        self._policy("no-ingress", every_pod, child, ingress=[])
        self._policy("no-egress", every_pod, child, egress=[])
        shard_clients = kubernetes.networking.v1.NetworkPolicyPeerArgs(
            pod_selector=kubernetes.meta.v1.LabelSelectorArgs(
                match_labels=every_pod,
                match_expressions=[kubernetes.meta.v1.LabelSelectorRequirementArgs(
                    key=workloads.COMPONENT_LABEL, operator="In", values=[workloads.UI, workloads.LOADER],
                )],
            ),
        )
        self._policy("shard-clients", workloads.labels(workloads.SHARD), child,
                     ingress=[kubernetes.networking.v1.NetworkPolicyIngressRuleArgs(
                         from_=[shard_clients], ports=[_port("TCP", shard_image.PORT)])])
        # No `from`: the API answers whoever its Service lets through (a LoadBalancer filters by source range).
        self._policy("ui-http", workloads.labels(workloads.UI), child,
                     ingress=[kubernetes.networking.v1.NetworkPolicyIngressRuleArgs(
                         ports=[_port("TCP", ui.FRONT_PORT)])])
        self._policy("ui-egress", workloads.labels(workloads.UI), child, egress=[_to_shards(), _to_dns()])
        if args.load_url:
            self._policy("loader-egress", workloads.labels(workloads.LOADER), child,
                         egress=[_to_shards(), _to_dns(), _to_web(args.load_url)])
        self.register_outputs({"namespace": self.namespace})

    def _policy(self, name: str, pods: dict[str, str], opts: pulumi.ResourceOptions,
                ingress: list[kubernetes.networking.v1.NetworkPolicyIngressRuleArgs] | None = None,
                egress: list[kubernetes.networking.v1.NetworkPolicyEgressRuleArgs] | None = None) -> None:
        """Traffic into (`ingress`) or out of (`egress`) `pods` only as the rules allow; an empty list denies all."""
        kubernetes.networking.v1.NetworkPolicy(
            name,
            metadata=workloads.metadata(f"{workloads.APP}-{name}", self.namespace,
                                        {workloads.NAME_LABEL: workloads.APP}),
            spec=kubernetes.networking.v1.NetworkPolicySpecArgs(
                pod_selector=kubernetes.meta.v1.LabelSelectorArgs(match_labels=pods),
                policy_types=[kind for kind, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None],
                ingress=ingress,
                egress=egress,
            ),
            opts=opts,
        )


def _to_shards() -> kubernetes.networking.v1.NetworkPolicyEgressRuleArgs:
    """PostgreSQL on the shard pods (their headless Services resolve to the pods themselves)."""
    return kubernetes.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[kubernetes.networking.v1.NetworkPolicyPeerArgs(
            pod_selector=kubernetes.meta.v1.LabelSelectorArgs(match_labels=workloads.labels(workloads.SHARD)))],
        ports=[_port("TCP", shard_image.PORT)],
    )


def _to_dns() -> kubernetes.networking.v1.NetworkPolicyEgressRuleArgs:
    """Name lookups (the shards' Service names), over UDP and, for long answers, TCP."""
    return kubernetes.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[kubernetes.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=kubernetes.meta.v1.LabelSelectorArgs(
                match_labels={"kubernetes.io/metadata.name": DNS_NAMESPACE}),
            pod_selector=kubernetes.meta.v1.LabelSelectorArgs(match_labels=DNS_POD_LABELS),
        )],
        ports=[_port("UDP", DNS_PORT), _port("TCP", DNS_PORT)],
    )


def _to_web(load_url: str) -> kubernetes.networking.v1.NetworkPolicyEgressRuleArgs:
    """Any address but the metadata services', on the web ports and the URL's own: where the loader downloads.

    Private ranges stay open: a compilation is often served from inside the
    organisation's network.
    """
    return kubernetes.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[kubernetes.networking.v1.NetworkPolicyPeerArgs(
                ip_block=kubernetes.networking.v1.IPBlockArgs(cidr=cidr, except_=excluded))
            for cidr, excluded in WEB.items()],
        ports=[_port("TCP", port) for port in sorted({*WEB_PORTS, url_port(load_url)})],
    )


def _port(protocol: str, port: int) -> kubernetes.networking.v1.NetworkPolicyPortArgs:
    return kubernetes.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=port)
