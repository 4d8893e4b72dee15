"""Run the real Pulumi program (infra/) in-process under Pulumi's mocks.

There is no Pulumi engine or Kubernetes API here, so the mocks stand in for
both: `RecordingMocks` answers every resource registration with its inputs
(plus a generated password or image digest where the program reads one) and
records what was declared. `run_program(config)` runs `infra/__main__.py` as
the Pulumi CLI would, with the given stack config, and returns the declared
resources, the Kubernetes manifests they amount to, and the stack outputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import json
import runpy
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Mapping
from unittest import mock

import pulumi
import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
INFRA = REPOSITORY_ROOT / "infra"
PROJECT = "snapthunder"
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
PASSWORD_TYPE = "random:index/randomPassword:RandomPassword"
IMAGE_TYPE = "docker:index/image:Image"
CHECKED_KUBERNETES_VERSIONS = ("1.30", "1.37")

if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.append(str(REPOSITORY_ROOT))


@dataclasses.dataclass(frozen=True)
class Declared:
    """One resource the program registered: its type token, logical name and inputs."""

    type: str
    name: str
    inputs: Mapping[str, Any]
    custom: bool


@dataclasses.dataclass(frozen=True)
class Deployment:
    resources: tuple[Declared, ...]
    options: Mapping[tuple[str, str], pulumi.ResourceOptions]
    outputs: Mapping[str, Any]
    secret_outputs: frozenset[str]

    def of_type(self, type_token: str) -> list[Declared]:
        return [resource for resource in self.resources if resource.type == type_token]

    @property
    def manifests(self) -> list[dict[str, Any]]:
        """Every Kubernetes object, as the manifest the provider would send to the API server."""
        return [manifest(resource.inputs) for resource in self.resources if resource.type.startswith("kubernetes:")]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [item for item in self.manifests if item["kind"] == kind]

    @property
    def passwords(self) -> list[str]:
        return [fake_password(resource.name) for resource in self.of_type(PASSWORD_TYPE)]


def fake_password(name: str) -> str:
    """What the mocked RandomPassword `name` generates: recognisable, so tests can look for leaks."""
    return "pw" + hashlib.sha256(name.encode()).hexdigest()[:30]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.declared: list[Declared] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.declared.append(Declared(args.typ, args.name, args.inputs, bool(args.custom)))
        state = dict(args.inputs)
        if args.typ == PASSWORD_TYPE:
            state["result"] = fake_password(args.name)
        elif args.typ == IMAGE_TYPE:
            repository = args.inputs["imageName"].rsplit(":", 1)[0]
            state["repoDigest"] = f"{repository}@sha256:{hashlib.sha256(args.name.encode()).hexdigest()}"
        elif args.typ.startswith("kubernetes:"):
            state.setdefault("metadata", {}).setdefault("name", args.name)
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def stack_config(stack: str) -> dict[str, str]:
    """A Pulumi.<stack>.yaml's config as the CLI hands it to the program: strings, objects as JSON."""
    values = yaml.safe_load((REPOSITORY_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value if isinstance(value, str) else json.dumps(value)
            for key, value in values.items()}


@functools.lru_cache(maxsize=None)
def _run_cached(config_items: tuple[tuple[str, str], ...]) -> Deployment:
    return _run(dict(config_items))


def run_program(config: Mapping[str, str] | None = None) -> Deployment:
    """Run infra/ with `config` (keys without the project prefix); runs are cached per config."""
    return _run_cached(tuple(sorted((config or {}).items())))


def program_module(name: str) -> ModuleType:
    """One of infra's modules (`images`, `settings`, …), for testing its plain functions."""
    with _fresh_program_modules():
        sys.path.insert(0, str(INFRA))
        return importlib.import_module(name)


def _run(config: Mapping[str, str]) -> Deployment:
    """One run of the program under fresh mocks, config, and copies of its modules."""
    mocks = RecordingMocks()
    exports: dict[str, pulumi.Output] = {}
    values: dict[str, Any] = {}
    pulumi.runtime.set_all_config({f"{PROJECT}:{key}": value for key, value in config.items()})
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=False)

    secret: set[str] = set()

    async def find_secrets() -> None:
        secret.update([key for key, value in exports.items()
                       if isinstance(value, pulumi.Output) and await value.is_secret()])

    options: dict[tuple[str, str], pulumi.ResourceOptions] = {}

    def record_options(args: pulumi.ResourceTransformationArgs) -> None:
        """The mocks never see resource options (retain_on_delete, timeouts, …): keep them here."""
        options[(args.type_, args.name)] = args.opts

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        pulumi.runtime.register_stack_transformation(record_options)
        runpy.run_path(str(INFRA), run_name="__main__")
        resolved = pulumi.Output.all(**exports).apply(values.update)
        return pulumi.Output.all(resolved, pulumi.Output.from_input(find_secrets()))

    # The modules stay importable until every registration has resolved: Pulumi reads their type hints.
    with _fresh_program_modules(), mock.patch.object(pulumi, "export", exports.__setitem__):
        program()
    return Deployment(tuple(mocks.declared), options, values, frozenset(secret))


PROGRAM_MODULES = tuple(path.stem for path in INFRA.glob("*.py") if path.stem != "__main__")


@contextlib.contextmanager
def _fresh_program_modules() -> Iterator[None]:
    """Import infra's modules afresh for each run, and leave none behind for other tests.

    infra/ runs as a directory of top-level modules (`settings`, `images`, …), as
    under the Pulumi CLI; those generic names must not leak between runs or tests.
    """
    saved = {name: sys.modules.pop(name) for name in PROGRAM_MODULES if name in sys.modules}
    path = list(sys.path)
    try:
        yield
    finally:
        for name in PROGRAM_MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        sys.path[:] = path


def manifest(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Mock inputs → a plain manifest: secret markers unwrapped, integral floats back to ints."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get(SECRET_SIGNATURE) is not None and "value" in value:
                return plain(value["value"])
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    return plain(dict(inputs))
