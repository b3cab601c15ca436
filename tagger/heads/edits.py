"""Edit scripts: how a form becomes its lemma, as a label a network can predict.

A script is a casing rule applied to the form, then a cut and an addition at each end
around the longest substring that the (re-cased) form and the lemma share:

    "Forces" -> "force"   lower; cut 0 and add "" before, cut 1 and add "" after
    "was"    -> "be"      keep; nothing shared: the lemma replaces the form

so that one script serves every form it fits ("cats", "dogs": cut one character after),
as in UDPipe's and spaCy's edit-tree lemmatizers. Scripts are written as JSON lists,
`[casing, cut_before, add_before, cut_after, add_after]`, the labels of the lemma head.
Pure Python: lemmas are made without TensorFlow.
"""

from __future__ import annotations

import json
from functools import lru_cache

KEEP, LOWER = "keep", "lower"
CASINGS = (KEEP, LOWER)


def cased(form: str, casing: str) -> str:
    return form.lower() if casing == LOWER else form


def _shared(a: str, b: str) -> tuple[int, int, int]:
    """The longest common substring of `a` and `b`: its start in each, and its length (the
    first such in `a` where several are as long)."""
    best = (0, 0, 0)
    previous = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        current = [0] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                current[j] = previous[j - 1] + 1
                if current[j] > best[2]:
                    best = (i - current[j], j - current[j], current[j])
        previous = current
    return best


@lru_cache(maxsize=1 << 16)
def script(form: str, lemma: str) -> str:
    """The edit script that turns `form` into `lemma`: of the casings, the one under which
    the two share the longest substring (the form's own casing on a tie)."""
    found = []
    for casing in CASINGS:
        base = cased(form, casing)
        start, lemma_start, size = _shared(base, lemma)
        found.append((-size, casing != KEEP, casing, base, start, lemma_start, size))
    _, _, casing, base, start, lemma_start, size = min(found)
    if size == 0:  # nothing shared: the lemma replaces the whole form
        return json.dumps([casing, 0, lemma, len(base), ""], ensure_ascii=False)
    return json.dumps([casing, start, lemma[:lemma_start], len(base) - start - size,
                       lemma[lemma_start + size:]], ensure_ascii=False)


@lru_cache(maxsize=1 << 14)
def parts(script_text: str) -> tuple[str, int, str, int, str]:
    """A script's casing, cut and addition before, cut and addition after."""
    casing, cut_before, add_before, cut_after, add_after = json.loads(script_text)
    return casing, int(cut_before), add_before, int(cut_after), add_after


def fits(script_text: str, form: str) -> bool:
    """Whether `script_text` applies to `form`: it cuts no more than the form has, and
    leaves something."""
    _, cut_before, add_before, cut_after, add_after = parts(script_text)
    cut = cut_before + cut_after
    return cut < len(form) or (cut == len(form) and bool(add_before or add_after))


def apply(script_text: str, form: str) -> str:
    """The lemma `script_text` makes of `form`; where the script does not fit it (`fits`),
    `fallback(form, casing)`."""
    casing, cut_before, add_before, cut_after, add_after = parts(script_text)
    base = cased(form, casing)
    if not fits(script_text, base):
        return fallback(form, casing)
    return add_before + base[cut_before:len(base) - cut_after] + add_after


def fallback(form: str, casing: str) -> str:
    """The lemma of a form that its predicted script does not fit: the form itself, in the
    script's casing (docs/training.md#lemmas measures how often it happens)."""
    return cased(form, casing)
