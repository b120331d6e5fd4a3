"""The Porter stemmer exactly as NLTK's `PorterStemmer()` runs it (its default mode, NLTK_EXTENSIONS).

LoCoMo's official QA F1 (snap-research/locomo, `task_eval/evaluation.py`) stems every token with
`nltk.stem.PorterStemmer().stem`; nltk is not a dependency of this project, so its algorithm is written out
here and `tests/eval/test_porter.py` pins its output on words whose NLTK stems were recorded from NLTK 3.x
(`nltk/stem/porter.py`, Apache-2.0). Porter, M. "An algorithm for suffix stripping", Program 14.3 (1980):
130-137, plus Martin Porter's later changes and NLTK's own (irregular forms, `ies`/`ied` on 4-letter words,
`y → i` only after a consonant, `alli`, `fulli`, `logi`, the two-letter `vc` case of *o).
"""

from collections.abc import Callable

_VOWELS = frozenset("aeiou")

# NLTK's table of irregular forms: a word listed here maps to its paradigm and skips the algorithm.
_IRREGULAR = {
    "sky": "sky", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
    "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
    "cannings": "canning", "canning": "canning", "howe": "howe",
    "proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
}

# (suffix, replacement, condition on the stem left once the suffix is cut); the first suffix that matches
# decides, whether or not its condition holds (the paper's rule).
Rule = tuple[str, str, Callable[[str], bool]]


def _pattern(word: str) -> str:
    """'c'/'v' per letter: y is a consonant at the start and after a vowel, a vowel after a consonant."""
    marks: list[str] = []
    for i, ch in enumerate(word):
        if ch in _VOWELS:
            marks.append("v")
        elif ch == "y":
            marks.append("c" if i == 0 or marks[i - 1] == "v" else "v")
        else:
            marks.append("c")
    return "".join(marks)


def _measure(stem: str) -> int:
    """m in [C](VC){m}[V]."""
    return _pattern(stem).count("vc")


def _m_positive(stem: str) -> bool:
    return _measure(stem) > 0


def _m_above_one(stem: str) -> bool:
    return _measure(stem) > 1


def _has_vowel(stem: str) -> bool:
    return "v" in _pattern(stem)


def _ends_double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _pattern(word)[-1] == "c"


def _ends_cvc(word: str) -> bool:
    """*o: the word ends consonant-vowel-consonant, the last not w/x/y; NLTK adds a two-letter word `vc`."""
    pattern = _pattern(word)
    if len(word) >= 3:
        return pattern[-3:] == "cvc" and word[-1] not in "wxy"
    return pattern == "vc"


def _apply(word: str, rules: list[Rule]) -> str:
    for suffix, replacement, condition in rules:
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)]
            return stem + replacement if condition(stem) else word
    return word


def _always(_stem: str) -> bool:
    return True


_STEP1A = [("sses", "ss"), ("ies", "i"), ("ss", "ss"), ("s", "")]


def _step1a(word: str) -> str:
    if word.endswith("ies") and len(word) == 4:  # NLTK: dies → die, but flies → fli
        return word[:-1]
    return _apply(word, [(suffix, replacement, _always) for suffix, replacement in _STEP1A])


def _step1b(word: str) -> str:
    if word.endswith("ied"):  # NLTK: died → die, but spied → spi
        return word[:-1] if len(word) == 4 else word[:-2]
    if word.endswith("eed"):
        return word[:-1] if _m_positive(word[:-3]) else word
    for suffix in ("ed", "ing"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and _has_vowel(stem):
            break
    else:
        return word
    if stem.endswith(("at", "bl", "iz")):
        return stem + "e"
    if _ends_double_consonant(stem):
        return stem if stem[-1] in "lsz" else stem[:-1]
    if _measure(stem) == 1 and _ends_cvc(stem):
        return stem + "e"
    return stem


def _step1c(word: str) -> str:
    # NLTK: y → i only after a consonant that is not the whole stem (happy → happi; enjoy and by stay).
    if word.endswith("y") and len(word) > 2 and _pattern(word[:-1])[-1] == "c":
        return word[:-1] + "i"
    return word


_STEP2 = [
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
    ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"),
    ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"),
    ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful"),
]
_STEP3 = [
    ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""),
    ("ness", ""),
]
_STEP4 = [
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism",
    "ate", "iti", "ous", "ive", "ize",
]


def _step2(word: str) -> str:
    if word.endswith("alli") and _m_positive(word[:-4]):  # NLTK: alli → al first, then step 2 again
        return _step2(word[:-2])
    rules: list[Rule] = [(suffix, replacement, _m_positive) for suffix, replacement in _STEP2]
    # logi → log keeps the l with the stem, so the measure is taken on the word less "ogi" (geo-, theo-).
    rules.append(("logi", "log", lambda _stem: _m_positive(word[:-3])))
    return _apply(word, rules)


def _step3(word: str) -> str:
    return _apply(word, [(suffix, replacement, _m_positive) for suffix, replacement in _STEP3])


def _ion_condition(stem: str) -> bool:
    return _measure(stem) > 1 and stem[-1] in "st"


def _step4(word: str) -> str:
    return _apply(word, [(s, "", _ion_condition if s == "ion" else _m_above_one) for s in _STEP4])


def _step5(word: str) -> str:
    if word.endswith("e"):
        stem = word[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _ends_cvc(stem)):
            word = stem
    if word.endswith("ll") and _measure(word[:-1]) > 1:
        word = word[:-1]
    return word


def porter_stem(word: str) -> str:
    """NLTK's `PorterStemmer().stem(word)`: lower-cased; words of one or two letters are only lower-cased."""
    stem = word.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 2:
        return stem
    for step in (_step1a, _step1b, _step1c, _step2, _step3, _step4, _step5):
        stem = step(stem)
    return stem
