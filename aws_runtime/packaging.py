"""The Lambda bundle: the project's code and runtime dependencies, as Lambda needs them.

Dependencies are installed by pip for Lambda's platform (``manylinux2014_x86_64`` or
``manylinux2014_aarch64``, CPython of the chosen version, wheels only), never for the machine
that builds the bundle. The zip is reproducible: entries sorted, fixed timestamps and
permissions, no byte-code, no caches, no console scripts — the same inputs give the same
bytes, so the content-addressed S3 key of ``interlock aws deploy`` only changes when the
code does. boto3 and botocore are left out: the Lambda Python runtime provides them.
"""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

ARCHITECTURES = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
#: Lambda's direct-upload limit for a zipped deployment package.
MAX_ZIP_BYTES = 50 * 1024 * 1024
#: What Lambda's Python runtime already has; installing our own copy only adds weight.
PROVIDED_BY_LAMBDA = frozenset({"boto3", "botocore", "s3transfer", "jmespath"})
#: The import packages of this project that Lambda runs.
PROJECT_PACKAGES = ("interlock_core", "aws_runtime")
# Deployment files that live in aws_runtime/ but are not code the functions run.
PROJECT_EXCLUDES = ("aws_runtime/terraform", "aws_runtime/template.yaml")
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test", "bin"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
PIP_TIMEOUT_SECONDS = 600


class PackageError(Exception):
    """The bundle could not be built (pip failed, a bad option, too large)."""


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A built bundle."""

    path: Path
    size: int
    files: int
    requirements: tuple[str, ...]


def runtime_requirements(distribution: str = "interlock") -> list[str]:
    """The distribution's unconditional requirements, minus what Lambda provides."""
    try:
        requires = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        raise PackageError(f"the {distribution!r} distribution is not installed") from None
    result = []
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        name = re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0]
        if name.lower().replace("_", "-") in PROVIDED_BY_LAMBDA:
            continue
        result.append(spec.strip() + (f"; {marker.strip()}" if marker.strip() else ""))
    return sorted(result)


def pip_command(
    target: Path,
    requirements: Sequence[str],
    *,
    arch: str,
    python: str,
    wheels: Path | None = None,
) -> list[str]:
    """The pip command that installs ``requirements`` for Lambda into ``target``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        "--platform",
        ARCHITECTURES[arch],
        "--implementation",
        "cp",
        "--python-version",
        python,
        "--only-binary=:all:",
        "--upgrade",
    ]
    if wheels is not None:
        command += ["--no-index", "--find-links", str(wheels)]
    return [*command, *requirements]


def build_bundle(
    out: Path,
    *,
    arch: str = "arm64",
    python: str = "3.12",
    wheels: Path | None = None,
    source_root: Path | None = None,
) -> Bundle:
    """Build the Lambda zip.

    Args:
        out: where to write the zip (replaced atomically).
        arch: ``x86_64`` or ``arm64`` (the functions' ``Architecture``).
        python: the Lambda runtime's Python version.
        wheels: a directory of wheels to install from, offline (``pip --find-links``);
            None downloads from the package index.
        source_root: the directory holding ``interlock_core/`` and ``aws_runtime/``;
            default: where they are imported from.

    Raises:
        PackageError: a bad option, pip failed, or the bundle is over Lambda's 50 MB limit.
    """
    if arch not in ARCHITECTURES:
        raise PackageError(f"--arch must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
    if python not in PYTHON_VERSIONS:
        raise PackageError(f"--python must be one of {', '.join(PYTHON_VERSIONS)}, got {python!r}")
    root = source_root or Path(__file__).resolve().parent.parent
    requirements = runtime_requirements()
    with tempfile.TemporaryDirectory(prefix="interlock-bundle-") as staging_text:
        staging = Path(staging_text)
        _pip_install(staging, requirements, arch=arch, python=python, wheels=wheels)
        _remove_provided(staging)
        for package in PROJECT_PACKAGES:
            _copy_project_package(root / package, staging / package, root)
        entries = sorted(_bundle_files(staging))
        temporary = out.with_name(out.name + ".tmp")
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_zip(temporary, staging, entries)
        size = temporary.stat().st_size
        if size > MAX_ZIP_BYTES:
            temporary.unlink()
            raise PackageError(
                f"the bundle is {size / 1e6:.1f} MB, over Lambda's 50 MB direct-upload limit"
            )
        os.replace(temporary, out)
    return Bundle(out, size, len(entries), tuple(requirements))


def _pip_install(
    target: Path, requirements: Sequence[str], *, arch: str, python: str, wheels: Path | None
) -> None:
    command = pip_command(target, requirements, arch=arch, python=python, wheels=wheels)
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise PackageError(f"pip did not finish in {PIP_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        raise PackageError(
            f"pip could not install {', '.join(requirements)} for {ARCHITECTURES[arch]} "
            f"Python {python}: {reason}"
        )


def _remove_provided(staging: Path) -> None:
    for path in staging.iterdir():
        name = path.name.split("-")[0].lower().replace("_", "-")
        if name in PROVIDED_BY_LAMBDA:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _copy_project_package(source: Path, destination: Path, root: Path) -> None:
    if not (source / "__init__.py").is_file():
        raise PackageError(f"{source} is not a Python package")
    excluded = {root / name for name in PROJECT_EXCLUDES}

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory)
        return {
            name
            for name in names
            if name in EXCLUDED_DIRS or name.endswith(EXCLUDED_SUFFIXES) or here / name in excluded
        }

    shutil.copytree(source, destination, ignore=ignore)


def _bundle_files(staging: Path) -> Iterable[str]:
    for directory, dirnames, filenames in os.walk(staging):
        dirnames[:] = [name for name in dirnames if name not in EXCLUDED_DIRS]
        for name in filenames:
            if name.endswith(EXCLUDED_SUFFIXES):
                continue
            # pip's record of the install path and installer differ between machines.
            if name in {"RECORD", "INSTALLER", "direct_url.json"} and directory.endswith(
                ".dist-info"
            ):
                continue
            yield Path(directory, name).relative_to(staging).as_posix()


def _write_zip(path: Path, staging: Path, entries: Sequence[str]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for entry in entries:
            info = zipfile.ZipInfo(entry, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            # Fixed modes, not the build machine's: shared libraries 0755, the rest 0644.
            mode = 0o100755 if ".so" in Path(entry).suffixes else 0o100644
            info.external_attr = mode << 16
            info.create_system = 3  # Unix, so the permission bits are honoured
            zf.writestr(info, (staging / entry).read_bytes(), compresslevel=9)
