"""Model packages: `tagger package` writes a wheel and an sdist of a model folder; pip installs
the wheel and tagger loads the model by its name."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tagger import __version__, model_folder
from tagger.errors import TaggerError
from tagger.model_packages import installed, locate

from .helpers import assert_one_line_error, run_cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built(pos_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel and sdist of `pos_model` as package `en-pos-small` 1.2.0."""
    output = tmp_path_factory.mktemp("packages")
    result = run_cli("package", pos_model, output, "--name", "en-pos-small",
                     "--version", "1.2.0")
    assert result.exit_code == 0, result.output
    wheel, sdist = (Path(line) for line in result.stdout.split())
    return wheel, sdist


def test_the_wheel_holds_the_model_folder_and_names_it_in_the_entry_points(
        built, pos_model: Path):
    wheel, _ = built
    assert wheel.name == "en_pos_small-1.2.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        folder = {p.relative_to(pos_model).as_posix(): p.read_bytes()
                  for p in pos_model.rglob("*") if p.is_file()}
        for path, data in folder.items():
            assert archive.read(f"en_pos_small/en-pos-small/{path}") == data
        info = "en_pos_small-1.2.0.dist-info"
        assert archive.read(f"{info}/entry_points.txt").decode().split() == [
            "[tagger.models]", "en-pos-small", "=", "en_pos_small"]
        meta = archive.read(f"{info}/METADATA").decode()
        major, minor = __version__.split(".")[:2]
        assert f"Requires-Dist: tagger>={major}.{minor},<{major}.{int(minor) + 1}" in meta
        assert "Name: en-pos-small\nVersion: 1.2.0" in meta
        # Its description, which an index shows, is the model's card.
        card = (pos_model / "README.md").read_text(encoding="utf-8")
        assert meta.endswith("Description-Content-Type: text/markdown\n\n" + card)
        # Every file is in RECORD with its hash and size, as pip checks.
        record = [line.split(",") for line in
                  archive.read(f"{info}/RECORD").decode().splitlines()]
        assert {path for path, _, _ in record} == names
        for path, digest, size in record:
            if path.endswith("RECORD"):
                continue
            data = archive.read(path)
            assert digest == "sha256=" + base64.urlsafe_b64encode(
                hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data)


def test_the_sdist_builds_the_same_package(built):
    wheel, sdist = built
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        project = archive.extractfile("en_pos_small-1.2.0/pyproject.toml").read().decode()
    with zipfile.ZipFile(wheel) as package:
        inside = {n for n in package.namelist() if n.startswith("en_pos_small/")}
    assert {n.removeprefix("en_pos_small-1.2.0/") for n in names} == {
        "PKG-INFO", "pyproject.toml", *inside}
    assert '[project.entry-points."tagger.models"]\nen-pos-small = "en_pos_small"' in project
    assert 'en_pos_small = ["en-pos-small/**/*"]' in project


def test_a_folder_that_fails_its_manifest_or_a_bad_name_builds_nothing(
        pos_model: Path, tmp_path: Path):
    damaged = tmp_path / "damaged"
    shutil.copytree(pos_model, damaged)
    (damaged / model_folder.VOCAB).write_text("changed\n", encoding="utf-8")
    output = tmp_path / "out"
    assert_one_line_error(run_cli("package", damaged, output, "--name", "x", "--version",
                                  "1.0.0"), "vocab.txt")
    assert not output.exists() or not any(output.iterdir())
    assert_one_line_error(run_cli("package", pos_model, output, "--name", "no way",
                                  "--version", "1.0.0"), "--name 'no way'")
    assert_one_line_error(run_cli("package", pos_model, output, "--name", "ok",
                                  "--version", "one"), "--version 'one'")


def test_two_installed_packages_of_one_name_are_reported(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    for dist in ("first", "second"):
        (tmp_path / f"{dist}_pkg" / "same").mkdir(parents=True)
        (tmp_path / f"{dist}_pkg" / "__init__.py").write_text("")
        info = tmp_path / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[tagger.models]\nsame = {dist}_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TaggerError, match=r"two installed model packages are named 'same' "
                                          r"\(first 1.0 .*second 1.0"):
        installed()


def test_a_name_that_is_neither_a_folder_nor_installed_says_so(tmp_path: Path):
    assert locate(tmp_path) == tmp_path
    assert_one_line_error(run_cli("tag", "no-such-model", "Hello ."),
                          "no model folder or installed model package named 'no-such-model'",
                          "installed:")


# Run in a fresh virtual environment that has the package installed and sees this
# environment's packages: tags by name on the onnx backend, says which modules loaded.
TAG_BY_NAME = """
import json, sys
from tagger.model_packages import installed
from tagger.pipeline import Tagger
tagger = Tagger.load("en-pos-small")
print(json.dumps({"tags": tagger.tag(["The cats sat ."])[0].tags,
                  "backend": tagger.backend.name,
                  "folder": str(installed()["en-pos-small"].folder),
                  "tensorflow": "tensorflow" in sys.modules}))
"""


def test_an_installed_package_tags_by_name_in_a_fresh_environment(built, pos_model: Path,
                                                                  tmp_path: Path):
    wheel, _ = built
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    inner = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                           check=True, capture_output=True, text=True).stdout.strip()
    # This environment's packages (tagger and its dependencies) stay visible; the model
    # package goes into the new one only.
    (Path(inner) / "outer.pth").write_text("\n".join([*site.getsitepackages(), str(ROOT)]))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-index", "--no-deps", "--quiet", str(wheel)], check=True)
    found = subprocess.run([python, "-c", TAG_BY_NAME], check=True, capture_output=True,
                           text=True)
    record = json.loads(found.stdout)
    assert record["backend"] == "onnx" and not record["tensorflow"]
    assert Path(record["folder"]).is_relative_to(inner)
    from tagger.pipeline import Tagger

    assert record["tags"] == Tagger.load(pos_model).tag(["The cats sat ."])[0].tags
    # The command line takes the name too and lists the package with its card; a changed
    # file of the package is named.
    listed = subprocess.run([python, "-m", "tagger.apps.cli", "models", "en-pos-small"],
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:3]]
    assert rows[0][:3] == ["en-pos-small", "1.2.0", "upos"]  # installed
    assert rows[1][:2] == ["en-pos-small", "-"]  # and named on the command line
    assert listed.stdout.rstrip().endswith(
        (pos_model / "README.md").read_text(encoding="utf-8").rstrip())
    command = [python, "-m", "tagger.apps.cli", "tag"]
    tagged = subprocess.run([*command, "en-pos-small", "The cats sat ."],
                            capture_output=True, text=True)
    assert tagged.returncode == 0, tagged.stderr
    assert [t.rsplit("/", 1)[1] for t in tagged.stdout.split()] == record["tags"]
    (Path(record["folder"]) / model_folder.VOCAB).write_text("changed\n", encoding="utf-8")
    failed = subprocess.run([*command, "en-pos-small", "Hi ."], capture_output=True,
                            text=True)
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: ") and "vocab.txt" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_every_command_of_the_release_script_is_one_the_command_line_takes():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_models
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    from tagger.apps.cli import main

    models = build_models.recommended()
    assert {m.recipe for m in models} == {p.name for p in (ROOT / "data" / "recipes").glob(
        "*.toml")} - {"ud_en_ewt_lg.toml"}  # the slower POS recipe is an experiment's
    for model in models:
        for command in (build_models.train_command(model, "GLOVE"),
                        build_models.package_command(model, "1.0.0", ROOT / "dist")):
            assert command[0] == "tagger"
            main.commands[command[1]].make_context(command[1], command[2:])  # or it raises
