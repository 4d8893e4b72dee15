"""The shard servers: one PostgreSQL StatefulSet per shard of the plan.

Per shard, a `Shard` component declares generated superuser and loader
passwords in a Secret, a headless Service (stable DNS for the one pod), and a
StatefulSet of one replica running the shard image on its own volume; one
disruption budget over all shards lets node drains stop them one at a time. One
reader password, shared by all shards, lives in its own Secret: the API uses
it everywhere and can only read. The server gets the three passwords as files
(both Secrets projected into one directory), never as environment values.

Every name derives from the shard's name alone (`shard-0`, `shard-chrx`), never
from the count, so going from 4 shards to 5 adds shard-4 and leaves shard-0..3,
their passwords and their volumes in place.
"""

from __future__ import annotations

import dataclasses
import re

import pulumi
import pulumi_kubernetes as kubernetes
import pulumi_random as random

import workloads
from settings import ContainerResources
from snapthunder import shard_image
from snapthunder.plan import ShardPlan

DATA_DIRECTORY = "/var/lib/postgresql/data"
# A subdirectory, because a fresh volume's root may hold lost+found and initdb wants an empty directory.
PGDATA = f"{DATA_DIRECTORY}/pgdata"
SUPERUSER_PASSWORD_KEY = "superuser-password"
LOADER_PASSWORD_KEY = "loader-password"
READER_PASSWORD_KEY = "password"
READER_SECRET = "snapthunder-reader"
PASSWORD_LENGTH = 32

_MEBIBYTE = 2**20


def object_name(shard: str) -> str:
    """The Kubernetes name of a shard's StatefulSet and Service: `snapthunder-shard-0`."""
    return f"{workloads.APP}-{shard}"


def credentials_secret_name(shard: str) -> str:
    return f"{object_name(shard)}-credentials"


@dataclasses.dataclass(frozen=True)
class ServerMemory:
    """PostgreSQL memory settings that fit inside the container's memory limit.

    shared_buffers takes a quarter of the limit and effective_cache_size
    (a planner hint, not an allocation) three quarters, the usual split for a
    dedicated server. maintenance_work_mem, used by the index builds at the end
    of every load, gets an eighth (at most 2 GiB). What is left is shared by
    the connections, two sorts or hashes each, for work_mem: the API's
    queries are index range scans, so a few MiB suffice. /dev/shm, where
    parallel queries exchange rows, gets an eighth too.
    """

    shared_buffers: int
    effective_cache_size: int
    maintenance_work_mem: int
    work_mem: int
    shared_memory: int

    @classmethod
    def for_limit(cls, limit_bytes: int, max_connections: int) -> "ServerMemory":
        limit = limit_bytes // _MEBIBYTE
        shared_buffers = limit // 4
        maintenance = min(limit // 8, 2048)
        work_mem = max(4, (limit - shared_buffers - maintenance) // (2 * max_connections))
        return cls(shared_buffers, limit * 3 // 4, maintenance, work_mem, max(64, limit // 8))

    def arguments(self) -> list[str]:
        """`-c name=value` flags for the server command (snapthunder.conf deliberately leaves memory out)."""
        settings = {
            "shared_buffers": self.shared_buffers, "effective_cache_size": self.effective_cache_size,
            "maintenance_work_mem": self.maintenance_work_mem, "work_mem": self.work_mem,
        }
        return [flag for name, mebibytes in settings.items() for flag in ("-c", f"{name}={mebibytes}MB")]


def max_connections() -> int:
    """`max_connections` from the image's server settings, the one place it is set."""
    found = re.search(r"^\s*max_connections\s*=\s*(\d+)", shard_image.SERVER_SETTINGS.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"{shard_image.SERVER_SETTINGS} does not set max_connections")
    return int(found.group(1))


@dataclasses.dataclass(frozen=True)
class ShardSetArgs:
    plan: ShardPlan
    namespace: pulumi.Input[str]
    image: pulumi.Input[str]
    pull_policy: str
    resources: ContainerResources
    storage_size: str
    storage_class: str | None
    delete_volumes_on_destroy: bool


class ShardSet(pulumi.ComponentResource):
    """Every shard of the plan, and the reader password they share."""

    loader_passwords: dict[str, pulumi.Output[str]]
    reader_password: pulumi.Output[str]

    def __init__(self, name: str, args: ShardSetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("snapthunder:infra:ShardSet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.reader_password = _password("reader-password", child)
        kubernetes.core.v1.Secret(
            "reader-credentials",
            metadata=workloads.metadata(READER_SECRET, args.namespace, workloads.labels(workloads.SHARD)),
            string_data={READER_PASSWORD_KEY: self.reader_password},
            opts=child,
        )
        memory = ServerMemory.for_limit(args.resources.memory_limit_bytes, max_connections())
        shards = {shard: Shard(shard, args, memory, child) for shard in args.plan.shards}
        # One budget over every shard, not one per shard. A shard is a single pod, so a budget of
        # its own could only either forbid evicting it (and block node drains forever) or allow it
        # always (and do nothing). Over the whole set it means something: a drain, or an upgrade
        # draining several nodes, takes down one shard (one part of the genome) at a time, and the
        # next only once the last is serving again.
        workloads.disruption_budget("shards", args.namespace, workloads.labels(workloads.SHARD), child)
        self.loader_passwords = {shard: component.loader_password for shard, component in shards.items()}
        self.register_outputs({"reader_password": self.reader_password, "loader_passwords": self.loader_passwords})


class Shard(pulumi.ComponentResource):
    """One PostgreSQL server holding the chromosomes the plan gave this shard."""

    loader_password: pulumi.Output[str]

    def __init__(self, shard: str, args: ShardSetArgs, memory: ServerMemory, opts: pulumi.ResourceOptions) -> None:
        super().__init__("snapthunder:infra:Shard", shard, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = workloads.labels(workloads.SHARD, shard)
        superuser_password = _password(f"{shard}-superuser-password", child)
        self.loader_password = _password(f"{shard}-loader-password", child)
        kubernetes.core.v1.Secret(
            f"{shard}-credentials",
            metadata=workloads.metadata(credentials_secret_name(shard), args.namespace, labels),
            string_data={SUPERUSER_PASSWORD_KEY: superuser_password, LOADER_PASSWORD_KEY: self.loader_password},
            opts=child,
        )
        service = kubernetes.core.v1.Service(
            shard,
            metadata=workloads.metadata(object_name(shard), args.namespace, labels),
            spec=kubernetes.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                selector=labels,
                ports=[kubernetes.core.v1.ServicePortArgs(name="postgres", port=shard_image.PORT,
                                                          target_port="postgres")],
            ),
            opts=child,
        )
        kubernetes.apps.v1.StatefulSet(
            shard,
            # Where the plan put each chromosome, for `kubectl get -o yaml`: in the StatefulSet's
            # metadata only, so a new plan restarts no pod.
            metadata=workloads.metadata(object_name(shard), args.namespace, labels,
                                        {"snapthunder.io/chromosomes": ",".join(args.plan.shards[shard])}),
            spec=kubernetes.apps.v1.StatefulSetSpecArgs(
                replicas=1,
                service_name=service.metadata.name,
                selector=kubernetes.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=kubernetes.core.v1.PodTemplateSpecArgs(
                    metadata=workloads.pod_metadata(labels),
                    spec=_pod(shard, args, memory),
                ),
                volume_claim_templates=[_volume_claim(args, labels)],
                persistent_volume_claim_retention_policy=_retention(args.delete_volumes_on_destroy),
            ),
            opts=child,
        )
        self.register_outputs({"loader_password": self.loader_password})


def _password(name: str, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """Letters and digits only, so the password needs no quoting in a DSN, a URL or a shell."""
    return pulumi.Output.secret(random.RandomPassword(name, length=PASSWORD_LENGTH, special=False, opts=opts).result)


def _pod(shard: str, args: ShardSetArgs, memory: ServerMemory) -> kubernetes.core.v1.PodSpecArgs:
    mounted = [
        _password_files(shard),
        workloads.scratch_volume("sockets", "/var/run/postgresql", size_limit="1Mi"),
        workloads.scratch_volume("tmp", "/tmp"),
        workloads.scratch_volume("shm", "/dev/shm", size_limit=f"{memory.shared_memory}Mi", in_memory=True),
    ]
    ready = ["pg_isready", "--host=127.0.0.1", f"--port={shard_image.PORT}",
             f"--username={shard_image.SUPERUSER}", f"--dbname={shard_image.DATABASE}", "--timeout=3"]
    container = kubernetes.core.v1.ContainerArgs(
        name="postgres",
        image=args.image,
        image_pull_policy=args.pull_policy,
        args=["postgres", *memory.arguments()],
        # The init script's and the entrypoint's variables (passwords as file paths, how clients
        # authenticate) and where the data directory is.
        env=[kubernetes.core.v1.EnvVarArgs(name=name, value=value)
             for name, value in {"PGDATA": PGDATA, **shard_image.entrypoint_environment()}.items()],
        ports=[kubernetes.core.v1.ContainerPortArgs(name="postgres", container_port=shard_image.PORT)],
        volume_mounts=[kubernetes.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIRECTORY),
                       *(mount for _, mount in mounted)],
        resources=workloads.resources(args.resources),
        security_context=workloads.container_security(),
        # The first start initialises the volume and a restart after a crash replays WAL:
        # the startup probe gives either 15 minutes before liveness may restart the pod.
        startup_probe=workloads.command_probe(ready, period_seconds=10, failure_threshold=90),
        readiness_probe=workloads.command_probe(ready, period_seconds=10, failure_threshold=3),
        liveness_probe=workloads.command_probe(ready, period_seconds=20, failure_threshold=6),
    )
    return workloads.pod_spec(
        workloads.POSTGRES_USER_ID, [container], [volume for volume, _ in mounted],
        # A fast shutdown (the default on SIGTERM) needs a few seconds; a checkpoint after a load, more.
        termination_grace_period_seconds=120,
    )


def _password_files(shard: str) -> tuple[kubernetes.core.v1.VolumeArgs, kubernetes.core.v1.VolumeMountArgs]:
    """The shard's passwords as the files `shard_image.init_environment()` names, in the directory it names.

    The official entrypoint reads the superuser's, the init script the loader's
    and the reader's, once, when they initialise an empty volume.
    """
    return workloads.secret_files_volume("passwords", shard_image.IMAGE_SECRETS_DIR, [
        (credentials_secret_name(shard), {SUPERUSER_PASSWORD_KEY: shard_image.SUPERUSER_PASSWORD_FILE,
                                          LOADER_PASSWORD_KEY: shard_image.LOADER_PASSWORD_FILE}),
        (READER_SECRET, {READER_PASSWORD_KEY: shard_image.READER_PASSWORD_FILE}),
    ])


def _volume_claim(args: ShardSetArgs, labels: dict[str, str]) -> kubernetes.core.v1.PersistentVolumeClaimArgs:
    return kubernetes.core.v1.PersistentVolumeClaimArgs(
        metadata=workloads.metadata("data", None, labels),
        spec=kubernetes.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=args.storage_class,
            resources=kubernetes.core.v1.VolumeResourceRequirementsArgs(requests={"storage": args.storage_size}),
        ),
    )


def _retention(delete_volumes: bool) -> kubernetes.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs:
    """Retain keeps a shard's data when its StatefulSet goes (destroy, or fewer shards); Delete frees it."""
    policy = "Delete" if delete_volumes else "Retain"
    return kubernetes.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
        when_deleted=policy, when_scaled=policy)
