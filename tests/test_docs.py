"""The documentation stays true: the README short with its set-up commands first, the
benchmark page generated from the JSON, every option it names real, every link alive, and
its examples run."""

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tagger.apps.cli import main

from .conftest import ROOT, free_port
from .helpers import started_server

DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *DOCS]
SHARED = ROOT.parent / "shared"


def _code(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_readme_is_short_and_starts_with_its_two_set_up_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert re.findall(r"^## .*", readme, re.M)[0] == "## Set-up: two commands"
    first = _code(readme, "sh")[0]
    assert [line.split("#")[0].strip() for line in first.strip().splitlines()] == [
        "bash scripts/demo.sh", "bash scripts/test.sh"]
    for script in ("demo.sh", "test.sh"):
        assert (ROOT / "scripts" / script).is_file()


def test_the_benchmark_page_is_generated_from_the_json():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import benchmark_page
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert page == benchmark_page.render(), "run python scripts/benchmark_page.py"
    for path in (ROOT / "data" / "benchmarks").glob("*.json"):
        assert f"`data/benchmarks/{path.name}`" in page, path.name


def _help_options(*command: str) -> set[str]:
    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", result.output))


def _commands() -> list[str]:
    result = CliRunner().invoke(main, ["--help"], terminal_width=200)
    section = result.output.split("Commands:")[1]
    return re.findall(r"^\s+(\w+)\s", section, re.M)


def _invocations(text: str) -> list[str]:
    """Every `tagger CMD ...` the text shows: in code blocks (a line each, continuation
    lines joined) and in inline code."""
    pieces = []
    for language, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
        if language != "python":
            pieces += block.replace("\\\n", " ").splitlines()
    pieces += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    found = []
    for piece in pieces:
        for match in re.finditer(r"(?:^|[\s(;$])tagger ([a-z]+)\b([^|;#]*)", piece):
            found.append(f"{match[1]} {match[2]}")
    return found


def test_every_tagger_option_the_docs_name_is_in_that_commands_help():
    commands = _commands()
    assert {"train", "tag", "evaluate", "export", "serve", "ensemble"} <= set(commands)
    options = {command: _help_options(command) for command in commands}
    wrong = []
    for page in PAGES:
        for invocation in _invocations(page.read_text(encoding="utf-8")):
            command, rest = invocation.split(" ", 1)
            if command not in options:
                wrong.append(f"{page.name}: tagger {command} is no command")
                continue
            for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest):
                if option not in options[command]:
                    wrong.append(f"{page.name}: tagger {command} has no {option}")
    assert not wrong, wrong


def test_every_option_the_docs_name_exists_somewhere():
    """A bare `--option` in the docs is an option of a tagger command, of the Beam job, or
    of a script in scripts/."""
    known = set().union(*(_help_options(c) for c in _commands()))
    beam = subprocess.run([sys.executable, "-m", "tagger.apps.beam", "--help"],
                          capture_output=True, text=True)
    known |= set(re.findall(r"--[a-z][a-z0-9_-]*", beam.stdout))
    for script in (ROOT / "scripts").glob("*"):
        known |= set(re.findall(r"--[a-z][a-z0-9_-]*", script.read_text(encoding="utf-8")))
    # Beam's own pipeline options, which the Beam job passes on, and `dask worker`'s.
    known |= {"--direct_running_mode", "--runner", "--requirements_file",
              "--dask_npartitions", "--nworkers", "--nthreads"}
    wrong = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for code in re.findall(r"`([^`\n]+)`", text):
            for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9_-]*", code):
                base = option.split("/")[0]
                if base not in known and not base.startswith("--no-"):
                    wrong.append(f"{page.name}: {option}")
    assert not wrong, sorted(set(wrong))


def _slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_relative_link_and_anchor_exists():
    broken = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
                continue
            if anchor:
                headings = re.findall(r"^#+ (.*)$", linked.read_text(encoding="utf-8"), re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def _in_project_copy(tmp_path: Path) -> Path:
    """A folder that looks like the project for relative paths: data/ and ../shared."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "data").symlink_to(ROOT / "data")
    (tmp_path / "shared").symlink_to(SHARED.resolve())
    return project


@pytest.mark.slow
def test_the_python_api_examples_run(tmp_path: Path, monkeypatch):
    """docs/python-api.md's examples, in order, in one namespace, and the README's."""
    monkeypatch.chdir(_in_project_copy(tmp_path))
    namespace: dict = {}
    for number, block in enumerate(_code((ROOT / "docs" / "python-api.md").read_text(
            encoding="utf-8"), "python"), 1):
        exec(compile(block, f"docs/python-api.md example {number}", "exec"), namespace)
    assert namespace["tagger"].labels
    [readme] = _code((ROOT / "README.md").read_text(encoding="utf-8"), "python")
    exec(compile(readme.replace("epochs=5", "epochs=1"), "README example", "exec"), {})


@pytest.mark.slow
def test_the_readme_quick_start_runs(tmp_path: Path):
    """Each command of the README's quick start, as written (one epoch instead of three),
    from a folder laid out as the project; the server answers, then stops on SIGTERM."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in _code(readme, "sh") if "tagger train" in b)
    lines = [line for line in block.strip().splitlines() if not line.startswith("source ")]
    assert lines[-1].startswith("tagger serve ")
    project = _in_project_copy(tmp_path)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    for line in lines[:-1]:
        line = line.replace("--epochs 3", "--epochs 1")
        result = subprocess.run(line, shell=True, cwd=project, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, (line, result.stderr[-2000:])
    assert (project / "tagged.jsonl").read_text(encoding="utf-8").count("\n") == 2001
    port = free_port()
    serve = shlex.split(lines[-1].replace("8501", str(port)))
    server = started_server(serve, port, cwd=project, env=env)
    try:
        curl = [line for line in _code(readme, "sh")[-1].strip().splitlines()
                if line.startswith("curl")]
        for command in curl:
            answer = subprocess.run(command.replace("8501", str(port)), shell=True,
                                    capture_output=True, text=True, timeout=60)
            assert answer.returncode == 0 and '"B-PER"' in answer.stdout, answer.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
