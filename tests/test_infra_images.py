"""The two Dockerfiles, read as text (no Docker engine here), against what they promise.

The shard image must copy exactly the files the local environment runs
(snapthunder/shard_image.py's SQL, init scripts and server settings) and its
entrypoint to the paths the contract names; the UI image must carry the shared package, the
loader, the bench, the app and nginx (its HTTP front), as a non-root user, its
Python packages exactly as images/ui/requirements.lock pins and hashes them. Both start from a base
pinned by digest. The program tags a built image by a digest of exactly those
files.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from snapthunder import shard_image
from snapthunder_api.settings import BY_NAME as API_SETTINGS
from tests.infra_harness import IMAGE_TYPE, REPOSITORY_ROOT, program_module, run_program

images = program_module("images")
INITDB_DIRECTORY = "/docker-entrypoint-initdb.d"
UI_REQUIREMENTS = REPOSITORY_ROOT / "images" / "ui" / "requirements.txt"
UI_LOCK = REPOSITORY_ROOT / "images" / "ui" / "requirements.lock"
DIGEST_PINNED = re.compile(r"[a-z0-9._/-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}")


def image_paths(dockerfile: Path) -> dict[Path, str]:
    """Each file in the build context → where the Dockerfile's COPY puts it in the image."""
    placed = {}
    for instruction in images.copy_instructions(dockerfile):
        for source in instruction.sources:
            for match in REPOSITORY_ROOT.glob(source.rstrip("/")):
                if match.is_dir():
                    for path in filter(Path.is_file, match.rglob("*")):
                        placed[path] = str(PurePosixPath(instruction.destination) / path.relative_to(match))
                elif instruction.destination.endswith("/"):
                    placed[match] = instruction.destination + match.name
                else:
                    placed[match] = instruction.destination
    return placed


def instructions(dockerfile: Path, keyword: str) -> list[str]:
    text = dockerfile.read_text().replace("\\\n", " ")
    return [line.split(maxsplit=1)[1] for line in text.splitlines() if line.split(maxsplit=1)[:1] == [keyword]]


def test_the_shard_image_copies_exactly_what_the_local_environment_runs() -> None:
    expected = {path: f"{shard_image.IMAGE_SQL_DIR}/{path.name}" for path in shard_image.SQL_DIR.glob("*.sql")}
    expected.update({path: f"{INITDB_DIRECTORY}/{path.name}" for path in shard_image.INIT_DIR.glob("*.sh")})
    expected[shard_image.SERVER_SETTINGS] = shard_image.IMAGE_SERVER_SETTINGS
    expected[shard_image.ENTRYPOINT] = shard_image.IMAGE_ENTRYPOINT
    assert shard_image.INIT_SCRIPT in expected
    assert image_paths(images.SHARD_DOCKERFILE) == expected
    assert images.copied_files(images.SHARD_DOCKERFILE) == sorted(expected)


def test_the_init_scripts_point_at_the_paths_the_image_uses() -> None:
    assert f"'{shard_image.IMAGE_SERVER_SETTINGS}'" in (shard_image.INIT_DIR / "00-settings.sh").read_text()
    assert f"${{SNAPTHUNDER_SQL_DIR:-{shard_image.IMAGE_SQL_DIR}}}" in shard_image.INIT_SCRIPT.read_text()


def test_both_images_start_from_a_base_pinned_by_digest() -> None:
    bases = {dockerfile: instructions(dockerfile, "FROM") for dockerfile in (images.SHARD_DOCKERFILE,
                                                                             images.UI_DOCKERFILE)}
    assert bases[images.SHARD_DOCKERFILE][0].startswith(f"postgres:{shard_image.POSTGRES_MAJOR}-bookworm@")
    assert bases[images.UI_DOCKERFILE][0].startswith("python:3.11-slim-bookworm@")
    for dockerfile, lines in bases.items():
        assert len(lines) == 1 and DIGEST_PINNED.fullmatch(lines[0]), (dockerfile, lines)


def lock_entries(lock: Path) -> list[Requirement]:
    """The lock's requirements (`name==version ; marker`), each asserted to carry at least one sha256 hash."""
    entries = []
    for logical in lock.read_text().replace("\\\n", " ").splitlines():
        if not logical.strip() or logical.lstrip().startswith("#"):
            continue
        requirement, *hashes = logical.split(" --hash=")
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", value.split()[0]) for value in hashes), logical
        entries.append(Requirement(requirement))
    return entries


def test_the_ui_lock_pins_and_hashes_everything_requirements_txt_asks_for() -> None:
    """Fails after requirements.txt changes until `make lock` is run again."""
    entries = lock_entries(UI_LOCK)
    assert UI_LOCK.read_text().splitlines()[1].strip() == "#    make lock"
    pins = {}
    for entry in entries:
        [specifier] = entry.specifier
        assert specifier.operator == "==", entry
        pins.setdefault(canonicalize_name(entry.name), []).append(specifier.version)
    for line in UI_REQUIREMENTS.read_text().splitlines():
        if line.split("#")[0].strip():
            wanted = Requirement(line.split("#")[0])
            versions = pins.get(canonicalize_name(wanted.name))
            assert versions, f"{wanted.name} is in {UI_REQUIREMENTS.name} but not in the lock: run `make lock`"
            assert all(wanted.specifier.contains(version) for version in versions), (
                f"the lock's {wanted.name} {versions} is outside {wanted.specifier}: run `make lock`")


def test_the_shard_image_is_the_pinned_postgres_major_run_as_postgres_with_a_healthcheck() -> None:
    dockerfile = images.SHARD_DOCKERFILE
    [base] = instructions(dockerfile, "FROM")
    assert base.split("@")[0] == f"postgres:{shard_image.POSTGRES_MAJOR}-bookworm"
    assert instructions(dockerfile, "USER") == ["postgres"]
    # The entrypoint that keeps the password out of the server's environment, run by sh (no execute bit
    # needed); ENTRYPOINT clears the base image's CMD, so the image states it again.
    assert instructions(dockerfile, "ENTRYPOINT") == [f'["/bin/sh", "{shard_image.IMAGE_ENTRYPOINT}"]']
    assert instructions(dockerfile, "CMD") == ['["postgres"]']
    [healthcheck] = instructions(dockerfile, "HEALTHCHECK")
    assert "pg_isready" in healthcheck and f"--port={shard_image.PORT}" in healthcheck
    assert not instructions(dockerfile, "VOLUME") and not instructions(dockerfile, "RUN"), "no data is baked in"


def test_the_ui_image_carries_the_package_the_loader_the_bench_and_the_app() -> None:
    dockerfile = images.UI_DOCKERFILE
    copies = {(instruction.sources, instruction.destination) for instruction in images.copy_instructions(dockerfile)}
    assert copies == {
        (("images/ui/requirements.lock",), "/app/images/ui/requirements.lock"),
        (("snapthunder/",), "/app/snapthunder/"), (("loaders/",), "/app/loaders/"),
        (("bench/",), "/app/bench/"), (("images/ui/",), "/app/images/ui/"),
        (("docs/API.md",), "/app/docs/API.md"),   # the page links the API reference; the app serves it
        # the loader runs one compilation's schema file in each new compilation's schema
        (("images/postgres-shard/sql/02-schema.sql",), "/app/images/postgres-shard/sql/02-schema.sql"),
    }
    schema_file = shard_image.COMPILATION_SCHEMA_FILE.relative_to(REPOSITORY_ROOT)
    assert image_paths(dockerfile)[shard_image.COMPILATION_SCHEMA_FILE] == f"/app/{schema_file}"
    [install] = [run for run in instructions(dockerfile, "RUN") if "pip install" in run]
    assert "--require-hashes -r /app/images/ui/requirements.lock" in install
    assert "PYTHONPATH=/app:/app/images/ui" in " ".join(instructions(dockerfile, "ENV"))
    assert instructions(dockerfile, "USER") == ["10001:10001"]
    assert instructions(dockerfile, "EXPOSE") == ["8000"]
    assert instructions(dockerfile, "CMD") == [
        '["gunicorn", "--config", "/app/images/ui/gunicorn.conf.py", "snapthunder_api:create_app()"]']
    [healthcheck] = instructions(dockerfile, "HEALTHCHECK")
    # The default CMD is gunicorn, on the API settings' app_bind (not the front's bind).
    assert f"'http://{API_SETTINGS['app_bind'].default}/healthz'" in healthcheck


def test_the_ui_image_installs_debians_nginx_light_for_the_front_and_keeps_no_apt_lists() -> None:
    [install] = [run for run in instructions(images.UI_DOCKERFILE, "RUN") if "apt-get" in run]
    commands = [command.split() for command in install.split("&&")]
    assert commands == [["apt-get", "update"],
                        ["apt-get", "install", "--yes", "--no-install-recommends", "nginx-light"],
                        ["rm", "-rf", "/var/lib/apt/lists/*"]]


def test_the_dockerignore_lets_every_copied_source_through() -> None:
    kept = re.findall(r"^!(\S+?)/?$", (REPOSITORY_ROOT / ".dockerignore").read_text(), re.MULTILINE)
    for dockerfile in (images.SHARD_DOCKERFILE, images.UI_DOCKERFILE):
        for instruction in images.copy_instructions(dockerfile):
            for source in instruction.sources:
                assert source.split("/")[0] in kept or source in kept, source


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A copy of the shard image's build context, to edit."""
    shutil.copytree(REPOSITORY_ROOT / "images" / "postgres-shard", tmp_path / "images" / "postgres-shard")
    (tmp_path / "README.md").write_text("not copied by the image\n")
    return tmp_path


def test_the_content_tag_changes_with_a_copied_file_only(context: Path) -> None:
    dockerfile = context / "images" / "postgres-shard" / "Dockerfile"
    tag = images.content_tag(dockerfile, context)
    assert re.fullmatch(r"src-[0-9a-f]{12}", tag)
    (context / "README.md").write_text("edited\n")
    pycache = context / "images" / "postgres-shard" / "sql" / "__pycache__"
    pycache.mkdir()
    (pycache / "x.pyc").write_bytes(b"\0")
    assert images.content_tag(dockerfile, context) == tag
    with (context / "images" / "postgres-shard" / "sql" / "02-schema.sql").open("a") as schema:
        schema.write("-- a change\n")
    assert images.content_tag(dockerfile, context) != tag


def test_built_images_are_local_tags_without_a_registry_and_pinned_digests_with_one() -> None:
    local = {resource.name: resource.inputs for resource in run_program().of_type(IMAGE_TYPE)}
    shard_tag = images.content_tag(images.SHARD_DOCKERFILE)
    assert local["postgres-shard"]["imageName"] == f"snapthunder/postgres-shard:{shard_tag}"
    assert local["ui"]["imageName"] == f"snapthunder/ui:{images.content_tag(images.UI_DOCKERFILE)}"
    assert all(inputs["skipPush"] for inputs in local.values())
    pushed = run_program({"imageRegistry": "registry.example:5000/", "imageTag": "1.2.0",
                          "imagePlatform": "linux/arm64"})
    inputs = {resource.name: resource.inputs for resource in pushed.of_type(IMAGE_TYPE)}
    assert inputs["postgres-shard"]["imageName"] == "registry.example:5000/snapthunder/postgres-shard:1.2.0"
    assert not inputs["ui"]["skipPush"] and inputs["ui"]["build"]["platform"] == "linux/arm64"
    [statefulset, *_] = pushed.kind("StatefulSet")
    image = statefulset["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("registry.example:5000/snapthunder/postgres-shard@sha256:")
