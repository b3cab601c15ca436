"""Write data/demo: a small English NER corpus (CoNLL, IOB2) for the README's demo and tests.

The sentences come from templates filled with invented people, places and organisations, so
the corpus is ours to ship. Re-running the script rewrites the same files (fixed seed).

    python scripts/make_demo_corpus.py
"""

from __future__ import annotations

import random
from pathlib import Path

PEOPLE = ["Anna Schmidt", "Tomas Okafor", "Mei Lin", "Rafael Duarte", "Ingrid Holm",
          "Samuel Adeyemi", "Priya Natarajan", "Jonas Weber", "Lucia Romano", "Kenji Sato",
          "Olga Petrova", "David Cohen", "Amara Diallo", "Hugo Lefevre", "Sara Lindqvist",
          "Marek Nowak", "Fatima Haddad", "Peter Brandt", "Elena Vasquez", "Omar Farouk"]
PLACES = ["Berlin", "Toronto", "Lagos", "Osaka", "Lisbon", "Oslo", "Nairobi", "Chicago",
          "Madrid", "Warsaw", "Cairo", "Sydney", "Hamburg", "New York", "Buenos Aires",
          "Cape Town", "Rio de Janeiro", "Kyoto", "Dublin", "Quebec"]
ORGS = ["Acme Corp", "Nordwind Bank", "Bluefield Motors", "the United Nations", "Helios Energy",
        "Kestrel Airlines", "Orbit Telecom", "the World Bank", "Greenleaf Foods",
        "Meridian University", "Vantage Media", "Atlas Shipping", "Solaris Pharma",
        "the Red Cross", "Pinnacle Insurance"]
MISC = ["German", "Canadian", "Japanese", "Olympic", "Brazilian", "French", "World Cup",
        "Nobel Prize", "Norwegian", "Kenyan"]

TEMPLATES = [
    "{PER} flew from {LOC} to {LOC} on Monday .",
    "{PER} , the chief executive of {ORG} , said profits rose .",
    "{ORG} opened a new office in {LOC} .",
    "Shares in {ORG} fell 3 percent in {LOC} trading .",
    "{PER} met {PER} in {LOC} to discuss the {MISC} market .",
    "The {MISC} team beat {LOC} 2-1 on Sunday .",
    "{PER} won the {MISC} after a long career at {ORG} .",
    "{ORG} and {ORG} agreed to merge , sources in {LOC} said .",
    "Police in {LOC} arrested two men on Tuesday .",
    "{PER} told reporters that {ORG} would hire 200 people .",
    "The weather in {LOC} was warm and dry .",
    "{PER} will visit {LOC} next week , {ORG} said .",
    "A spokesman for {ORG} declined to comment .",
    "{MISC} exports to {LOC} grew last year .",
    "{PER} , a {MISC} citizen , lives in {LOC} .",
    "Prices rose sharply in March .",
    "{ORG} said it expects higher sales in {LOC} .",
    "{PER} scored twice as {LOC} won the final .",
    "The talks in {LOC} ended without a deal .",
    "{PER} joined {ORG} in 2019 after leaving {ORG} .",
]


def fill(template: str, rng: random.Random, held_out: bool) -> list[tuple[str, str]]:
    """A sentence from `template`; dev sentences use names that train never shows."""
    pools = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS, "MISC": MISC}
    pools = {k: v[-3:] if held_out else v[:-3] for k, v in pools.items()}
    rows = []
    for word in template.split():
        kind = word[1:-1] if word.startswith("{") else None
        if kind is None:
            rows.append((word, "O"))
            continue
        parts = rng.choice(pools[kind]).split()
        # "the United Nations": the article is not part of the name.
        if parts[0] == "the":
            rows.append(("the", "O"))
            parts = parts[1:]
        rows += [(p, ("B-" if i == 0 else "I-") + kind) for i, p in enumerate(parts)]
    if rows[0][1] == "O":
        rows[0] = (rows[0][0][0].upper() + rows[0][0][1:], "O")
    return rows


def write(path: Path, sentences: list[list[tuple[str, str]]]) -> None:
    path.write_text("".join("".join(f"{w} {t}\n" for w, t in s) + "\n" for s in sentences),
                    encoding="utf-8")


def main() -> None:
    rng = random.Random(13)
    folder = Path(__file__).resolve().parent.parent / "data" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "train.conll", [fill(rng.choice(TEMPLATES), rng, False) for _ in range(800)])
    write(folder / "dev.conll", [fill(rng.choice(TEMPLATES), rng, True) for _ in range(200)])


if __name__ == "__main__":
    main()
