"""Model packages: a model folder as a Python distribution that pip installs and tagger
loads by name, as spaCy's model packages are.

`build` writes a wheel and an sdist whose one package holds the model folder (its manifest
verified first) and names it in the `tagger.models` entry point group; `installed` lists
the packages of that group on the path, and `locate` turns what a user typed (a folder, or
an installed package's name) into a model folder. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import time
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tagger import __version__, model_folder
from tagger.errors import TaggerError

GROUP = "tagger.models"  # the entry point group of installed model packages
# A package's name: letters, digits, _ and - (PEP 508), starting with a letter; its module
# is the name with - as _.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_VERSION = re.compile(r"\d+(\.\d+)*")


@dataclass(frozen=True)
class InstalledModel:
    name: str  # what `tagger tag NAME` takes
    distribution: str
    version: str
    folder: Path


def installed() -> dict[str, InstalledModel]:
    """The installed model packages by name; a TaggerError if two share a name."""
    found: dict[str, InstalledModel] = {}
    for entry in metadata.entry_points(group=GROUP):
        dist = entry.dist
        model = InstalledModel(entry.name, dist.name if dist else "?",
                               dist.version if dist else "?", _folder_of(entry))
        if entry.name in found and found[entry.name].folder != model.folder:
            both = ", ".join(f"{m.distribution} {m.version} in {m.folder}" for m in sorted(
                (found[entry.name], model), key=lambda m: m.distribution))
            raise TaggerError(f"two installed model packages are named {entry.name!r} "
                              f"({both}); pip uninstall one of them")
        found[entry.name] = model
    return found


def _folder_of(entry: metadata.EntryPoint) -> Path:
    """The model folder of entry point `name = module`: the package's folder `name` (found
    on the path, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec(entry.module)
    if spec is None or not spec.submodule_search_locations:
        raise TaggerError(f"installed model package {entry.name!r} has no package "
                          f"{entry.module}; pip install it again")
    return Path(next(iter(spec.submodule_search_locations))) / entry.name


def locate(model: str | Path) -> Path:
    """The model folder `model` means: a path that exists, else an installed model
    package's name; a TaggerError naming the installed ones if it is neither."""
    path = Path(model)
    if path.exists():
        return path
    text = str(model)
    if _NAME.fullmatch(text):
        packages = installed()
        if text in packages:
            return packages[text].folder
        names = ", ".join(sorted(packages)) or "none"
        raise TaggerError(f"no model folder or installed model package named {text!r} "
                          f"(installed: {names}); give a folder that 'tagger train --output' "
                          "wrote, or pip install the model's package", param="model")
    return path  # model_folder.read says the folder does not exist


def module_name(name: str) -> str:
    return name.replace("-", "_").lower()


def build(model: Path, output: Path, name: str, version: str) -> tuple[Path, Path]:
    """Write model folder `model` as a wheel and an sdist of distribution `name`
    `version` in `output`; their paths. The folder must pass its manifest."""
    if not _NAME.fullmatch(name):
        raise TaggerError(f"--name {name!r}: use letters, digits, _ and -, starting with a "
                          "letter (e.g. en_ewt_pos)", param="name")
    if not _VERSION.fullmatch(version):
        raise TaggerError(f"--version {version!r}: give numbers joined by dots, e.g. 1.0.0",
                          param="version")
    model_folder.read(model)  # every file as its manifest lists it, or a one-line error
    # The folder is named as the model, as `tagger serve` names what it serves.
    files = {f"{name}/{path.relative_to(model).as_posix()}": path.read_bytes()
             for path in sorted(model.rglob("*")) if path.is_file()}
    module = module_name(name)
    sources = {f"{module}/__init__.py": _init(name, version).encode(),
               **{f"{module}/{path}": data for path, data in files.items()}}
    stem = f"{module}-{version}"
    output.mkdir(parents=True, exist_ok=True)
    wheel = output / f"{stem}-py3-none-any.whl"
    sdist = output / f"{stem}.tar.gz"
    from tagger import model_card

    meta = _metadata(name, version, model_card.read(model))
    _write_atomically(wheel, _wheel(meta, stem, name, sources))
    _write_atomically(sdist, _sdist(meta, stem, name, version, sources))
    return wheel, sdist


def _requires() -> str:
    """The tagger releases that read this model folder format: this one's minor series."""
    major, minor = __version__.split(".")[:2]
    return f"tagger>={major}.{minor},<{major}.{int(minor) + 1}"


def _metadata(name: str, version: str, card: str | None) -> str:
    """The core metadata; its description the model's card, which an index shows."""
    fields = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
              f"Summary: tagger model {name} (model folder format "
              f"{model_folder.FORMAT} v{model_folder.FORMAT_VERSION})\n"
              f"Requires-Python: >=3.11\nRequires-Dist: {_requires()}\n")
    if card is None:
        return fields
    return fields + f"Description-Content-Type: text/markdown\n\n{card}"


def _init(name: str, version: str) -> str:
    return (f'"""tagger model {name} {version}: `tagger tag {name} TEXT`, or '
            f'`Tagger.load("{name}")`."""\n\n'
            "from pathlib import Path\n\n\n"
            "def path() -> Path:\n"
            '    """The model folder."""\n'
            f'    return Path(__file__).parent / "{name}"\n')


def _wheel(meta: str, stem: str, name: str, sources: dict[str, bytes]) -> bytes:
    info = f"{stem}.dist-info"
    files = {**sources,
             f"{info}/METADATA": meta.encode(),
             f"{info}/WHEEL": (f"Wheel-Version: 1.0\nGenerator: tagger {__version__}\n"
                               "Root-Is-Purelib: true\nTag: py3-none-any\n").encode(),
             f"{info}/entry_points.txt": f"[{GROUP}]\n{name} = {module_name(name)}\n".encode()}
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, time.localtime()[:6]), data,
                             zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _sdist(meta: str, stem: str, name: str, version: str, sources: dict[str, bytes]
           ) -> bytes:
    module = module_name(name)
    card = f"{module}/{name}/README.md"  # the model card, the package's description
    project = (f'[build-system]\nrequires = ["setuptools>=68"]\n'
               'build-backend = "setuptools.build_meta"\n\n'
               f'[project]\nname = "{name}"\nversion = "{version}"\n'
               f'description = "tagger model {name}"\nrequires-python = ">=3.11"\n'
               + (f'readme = "{card}"\n' if card in sources else "")
               + f'dependencies = ["{_requires()}"]\n\n'
               f'[project.entry-points."{GROUP}"]\n{name} = "{module}"\n\n'
               f'[tool.setuptools]\npackages = ["{module}"]\n\n'
               f'[tool.setuptools.package-data]\n{module} = ["{name}/**/*"]\n')
    files = {"PKG-INFO": meta.encode(),
             "pyproject.toml": project.encode(), **sources}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            entry = tarfile.TarInfo(f"{stem}/{path}")
            entry.size, entry.mtime, entry.mode = len(data), int(time.time()), 0o644
            archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _write_atomically(path: Path, data: bytes) -> None:
    """`data` in `path`, or no file: never half a wheel."""
    part = path.with_name(path.name + ".part")
    try:
        part.write_bytes(data)
        part.replace(path)
    except OSError as error:
        part.unlink(missing_ok=True)
        raise TaggerError(f"cannot write {path}: {error.strerror or error}") from None
