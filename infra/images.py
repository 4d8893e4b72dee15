"""The two container images: built from images/* and pushed, or taken as given.

With `buildImages` (the default) the program builds images/postgres-shard and
images/ui with pulumi-docker, both from the repository root as build context,
and pushes them when `imageRegistry` is set. Pods then run a pushed image by
its digest, or a local one by a tag that is a digest of the files its
Dockerfile copies, so a pod restarts exactly when its image's content changed.
Otherwise the program runs `shardImage` and `uiImage` as configured. Registry
images are pulled on every pod start (`Always`), local ones never.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
from pathlib import Path

import pulumi
import pulumi_docker as docker

from settings import ImageSettings

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SHARD_DOCKERFILE = REPOSITORY_ROOT / "images" / "postgres-shard" / "Dockerfile"
UI_DOCKERFILE = REPOSITORY_ROOT / "images" / "ui" / "Dockerfile"
# What the repository's .dockerignore keeps out of the build context.
_IGNORED_PARTS = ("__pycache__",)
_IGNORED_SUFFIXES = (".pyc",)


@dataclasses.dataclass(frozen=True)
class CopyInstruction:
    """A Dockerfile `COPY`: sources relative to the build context, and the destination in the image."""

    sources: tuple[str, ...]
    destination: str


def copy_instructions(dockerfile: Path) -> list[CopyInstruction]:
    """The COPY instructions of a Dockerfile (shell form; `--flag` options skipped; no multi-stage `--from`)."""
    logical_lines = dockerfile.read_text().replace("\\\n", " ").splitlines()
    instructions = []
    for line in logical_lines:
        if line.split(maxsplit=1)[:1] != ["COPY"]:
            continue
        operands = [word for word in shlex.split(line, comments=True)[1:] if not word.startswith("--")]
        instructions.append(CopyInstruction(tuple(operands[:-1]), operands[-1]))
    return instructions


def copied_files(dockerfile: Path, context: Path = REPOSITORY_ROOT) -> list[Path]:
    """Every file the Dockerfile's COPY instructions take from the build context, sorted."""
    files: set[Path] = set()
    for instruction in copy_instructions(dockerfile):
        for source in instruction.sources:
            for match in context.glob(source.rstrip("/")):
                candidates = match.rglob("*") if match.is_dir() else [match]
                files.update(path for path in candidates if path.is_file() and not _ignored(path))
    return sorted(files)


def content_tag(dockerfile: Path, context: Path = REPOSITORY_ROOT) -> str:
    """`src-` and 12 hex digits of a digest of the Dockerfile and every file it copies."""
    digest = hashlib.sha256(dockerfile.read_bytes())
    for path in copied_files(dockerfile, context):
        digest.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes())
    return f"src-{digest.hexdigest()[:12]}"


def _ignored(path: Path) -> bool:
    return any(part in _IGNORED_PARTS for part in path.parts) or path.suffix in _IGNORED_SUFFIXES


@dataclasses.dataclass(frozen=True)
class ImagesArgs:
    settings: ImageSettings


class Images(pulumi.ComponentResource):
    """The shard and UI image references every workload runs."""

    shard_image: pulumi.Output[str]
    ui_image: pulumi.Output[str]
    pull_policy: str

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("snapthunder:infra:Images", name, None, opts)
        settings = args.settings
        # A registry image is checked on every start (cheap for a digest, and a moving tag is
        # honoured); an image built into the local engine cannot be pulled, only found there.
        self.pull_policy = "IfNotPresent" if settings.build and not settings.registry else "Always"
        if settings.build:
            self.shard_image = self._build("postgres-shard", SHARD_DOCKERFILE, settings)
            self.ui_image = self._build("ui", UI_DOCKERFILE, settings)
        else:
            self.shard_image = pulumi.Output.from_input(settings.shard_image)
            self.ui_image = pulumi.Output.from_input(settings.ui_image)
        self.register_outputs({"shard_image": self.shard_image, "ui_image": self.ui_image})

    def _build(self, name: str, dockerfile: Path, settings: ImageSettings) -> pulumi.Output[str]:
        repository = "/".join(part for part in (settings.registry, settings.repository, name) if part)
        image = docker.Image(
            name,
            image_name=f"{repository}:{settings.tag or content_tag(dockerfile)}",
            build=docker.DockerBuildArgs(
                # Relative to the program's working directory, so the stack's state is the same on every machine.
                context=os.path.relpath(REPOSITORY_ROOT),
                dockerfile=os.path.relpath(dockerfile),
                platform=settings.platform,
            ),
            skip_push=not settings.registry,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # A pushed image is pinned by its registry digest; a local one (no registry) has only its tag.
        return image.repo_digest if settings.registry else image.image_name
