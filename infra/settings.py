"""The stack's configuration, read once and checked, as one frozen `Settings`.

Pulumi.yaml declares every key (type, default, description); this module reads
that declaration for the defaults, so the program behaves the same whether the
Pulumi CLI filled them in or not (unit tests run without the CLI). Each value
is checked here, at the edge: a bad one raises `SettingsError` naming the key
and what it may be, before any resource is declared.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Callable

import pulumi
import yaml

from snapthunder.compilations import Compilation, CompilationError, parse_all
from snapthunder.plan import PlanError, ShardPlan, plan_shards

PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"
PROJECT = "snapthunder"

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
MAX_UI_REPLICAS = 100
MINIMUM_SHARD_MEMORY = 256 * 2**20

_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")
_MEMORY_UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                 "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_MEMORY_EXAMPLES = "a Kubernetes quantity such as 512Mi, 2Gi or 1G"
_CPU_EXAMPLES = "a Kubernetes CPU quantity such as 250m, 1 or 1.5"


class SettingsError(ValueError):
    """A stack config value the program cannot use; the message names the key and the allowed values."""


@dataclasses.dataclass(frozen=True)
class ContainerResources:
    """Requests and limits of one kind of container, as Kubernetes quantities.

    Ephemeral storage (node-local disk: scratch volumes, logs) is bounded like
    memory, so one pod that fills /tmp is evicted instead of filling the node.
    """

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    ephemeral_storage_request: str
    ephemeral_storage_limit: str

    @property
    def memory_limit_bytes(self) -> int:
        return memory_bytes(self.memory_limit)


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    """Build (and maybe push) the images, or run the given references."""

    build: bool
    registry: str
    repository: str
    tag: str
    platform: str
    shard_image: str
    ui_image: str


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the program needs from the stack config, checked: components take parts of it."""

    plan: ShardPlan
    compilations: tuple[Compilation, ...]
    namespace: str
    create_namespace: bool
    images: ImageSettings
    storage_class: str | None
    storage_size: str
    delete_volumes_on_destroy: bool
    shard_resources: ContainerResources
    ui_resources: ContainerResources
    ui_front_resources: ContainerResources
    ui_replicas: int
    ui_service_type: str
    ui_source_ranges: tuple[str, ...]
    load_url: str | None

    @classmethod
    def from_config(cls, config: pulumi.Config) -> "Settings":
        """Read every key once, with Pulumi.yaml's defaults, and check it."""
        read = _Reader(config, declared_keys())
        try:
            plan = plan_shards(read("shards"))
        except PlanError as error:
            raise SettingsError(f"{PROJECT}:shards: {error}") from None
        ui_service_type = read("uiServiceType", _one_of(SERVICE_TYPES))
        ui_source_ranges = tuple(read("uiSourceRanges", _cidr_list))
        if ui_service_type == "LoadBalancer" and not ui_source_ranges:
            raise SettingsError(f"{PROJECT}:uiSourceRanges must list the CIDR ranges allowed to reach the LoadBalancer "
                                f"(e.g. [\"203.0.113.0/24\"]) when {PROJECT}:uiServiceType is LoadBalancer")
        if ui_source_ranges and ui_service_type != "LoadBalancer":
            raise SettingsError(f"{PROJECT}:uiSourceRanges applies only when {PROJECT}:uiServiceType is "
                                f"LoadBalancer; it is {ui_service_type}")
        shard_resources = _resources(read, "shard")
        if shard_resources.memory_limit_bytes < MINIMUM_SHARD_MEMORY:
            raise SettingsError(f"{PROJECT}:shardMemoryLimit must be at least 256Mi; "
                                f"got {shard_resources.memory_limit}")
        return cls(
            plan=plan,
            compilations=read("compilations", _compilations),
            namespace=read("namespace", _NAMESPACE),
            create_namespace=read("createNamespace"),
            images=_images(read),
            storage_class=read("storageClass", _optional(_STORAGE_CLASS)),
            storage_size=read("storageSize", _memory_quantity),
            delete_volumes_on_destroy=read("deleteVolumesOnDestroy"),
            shard_resources=shard_resources,
            ui_resources=_resources(read, "ui"),
            ui_front_resources=_resources(read, "uiFront"),
            ui_replicas=read("uiReplicas", _in_range(1, MAX_UI_REPLICAS)),
            ui_service_type=ui_service_type,
            ui_source_ranges=ui_source_ranges,
            load_url=read("loadUrl", _optional(_LOAD_URL)),
        )


def declared_keys() -> dict[str, dict[str, Any]]:
    """Pulumi.yaml's `config:` block: key → {type, default, description}."""
    return yaml.safe_load(PROJECT_FILE.read_text())["config"]


def memory_bytes(quantity: str) -> int:
    """Bytes in a Kubernetes memory quantity (`2Gi`, `512Mi`, `1G`) already checked by `_memory_quantity`."""
    number, unit = _MEMORY.match(quantity).groups()
    return int(float(number) * _MEMORY_UNITS[unit])


class _Reader:
    """Reads one key as its declared type, falling back to its declared default, then checks it."""

    def __init__(self, config: pulumi.Config, declared: dict[str, dict[str, Any]]) -> None:
        self._config = config
        self._declared = declared

    def __call__(self, key: str, check: Callable[[Any], Any] | None = None) -> Any:
        declaration = self._declared[key]
        raw = self._config.get(key)
        value = declaration["default"] if raw is None else _parse(raw, declaration["type"], key)
        if check is None:
            return value
        try:
            return check(value)
        except ValueError as error:
            raise SettingsError(f"{PROJECT}:{key} must be {error}; got {value!r}") from None


def _parse(raw: str, kind: str, key: str) -> Any:
    if kind == "string":
        return raw
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{PROJECT}:{key} must be an integer; got {raw!r}") from None
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise SettingsError(f"{PROJECT}:{key} must be true or false; got {raw!r}")
        return raw.lower() == "true"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise SettingsError(f"{PROJECT}:{key} must be a list of strings (set it with "
                            f"`pulumi config set --path '{key}[0]' VALUE`); got {raw!r}") from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{PROJECT}:{key} must be a list of strings; got {raw!r}")
    return value


def _compilations(spelled: list[str]) -> tuple[Compilation, ...]:
    """Checked by snapthunder.compilations; its message says what is allowed (a ValueError, as _Reader expects)."""
    try:
        return parse_all(spelled)
    except CompilationError as error:
        raise ValueError(f"a list of compilations ({error})") from None


def _images(read: _Reader) -> ImageSettings:
    images = ImageSettings(
        build=read("buildImages"),
        registry=read("imageRegistry").rstrip("/"),
        repository=read("imageRepository", _REPOSITORY),
        tag=read("imageTag", _optional(_TAG)) or "",
        platform=read("imagePlatform", _PLATFORM),
        shard_image=read("shardImage"),
        ui_image=read("uiImage"),
    )
    if not images.build:
        for key, value, example in (("shardImage", images.shard_image, "postgres-shard"),
                                    ("uiImage", images.ui_image, "ui")):
            if not value:
                raise SettingsError(f"{PROJECT}:{key} must be an image reference (such as ghcr.io/acme/snapthunder/"
                                    f"{example}:1.0) when {PROJECT}:buildImages is false")
    return images


def _resources(read: _Reader, prefix: str) -> ContainerResources:
    resources = ContainerResources(
        cpu_request=read(f"{prefix}CpuRequest", _cpu_quantity),
        cpu_limit=read(f"{prefix}CpuLimit", _cpu_quantity),
        memory_request=read(f"{prefix}MemoryRequest", _memory_quantity),
        memory_limit=read(f"{prefix}MemoryLimit", _memory_quantity),
        ephemeral_storage_request=read(f"{prefix}EphemeralStorageRequest", _memory_quantity),
        ephemeral_storage_limit=read(f"{prefix}EphemeralStorageLimit", _memory_quantity),
    )
    pairs = (("Cpu", _cpu_millicores(resources.cpu_request), _cpu_millicores(resources.cpu_limit)),
             ("Memory", memory_bytes(resources.memory_request), memory_bytes(resources.memory_limit)),
             ("EphemeralStorage", memory_bytes(resources.ephemeral_storage_request),
              memory_bytes(resources.ephemeral_storage_limit)))
    for kind, request, limit in pairs:
        if request > limit:
            raise SettingsError(f"{PROJECT}:{prefix}{kind}Request must not exceed {PROJECT}:{prefix}{kind}Limit "
                                "(Kubernetes rejects such a container)")
    return resources


def _cpu_millicores(quantity: str) -> float:
    number, milli = _CPU.match(quantity).groups()
    return float(number) * (1 if milli else 1000)


def _memory_quantity(value: str) -> str:
    if not _MEMORY.match(value) or memory_bytes(value) == 0:
        raise ValueError(_MEMORY_EXAMPLES)
    return value


def _cpu_quantity(value: str) -> str:
    if not _CPU.match(value) or _cpu_millicores(value) == 0:
        raise ValueError(_CPU_EXAMPLES)
    return value


def _matching(pattern: str, allowed: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(allowed)
        return value
    return check


def _optional(check: Callable[[str], str]) -> Callable[[str], str | None]:
    """Empty means "not set" (Pulumi config has no null); anything else must pass `check`."""
    return lambda value: check(value) if value else None


def _one_of(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}")
        return value
    return check


def _in_range(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"an integer from {low} to {high}")
        return value
    return check


def _cidr_list(values: list[str]) -> list[str]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise ValueError(f"a list of CIDR ranges such as 203.0.113.0/24 ({value!r} is not one)") from None
    return values


# The checks of names, each with what the name may be (the error message says it).
_NAMESPACE = _matching(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
                       "a Kubernetes namespace name (lower-case letters, digits and '-')")
_STORAGE_CLASS = _matching(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
                           "a StorageClass name, or empty for the cluster's default")
_REPOSITORY = _matching(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
                        "a lower-case repository path such as snapthunder or team/snapthunder")
_TAG = _matching(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
                 "a Docker tag (letters, digits, '_', '.', '-'), or empty for a content digest")
_PLATFORM = _matching(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$", "an os/architecture such as linux/amd64 or linux/arm64")
_LOAD_URL = _matching(r"^https?://\S+$", "an http:// or https:// URL of a junctions file, or empty")
