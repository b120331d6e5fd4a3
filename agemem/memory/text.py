"""Word-level text normalisation shared by the BM25 index, the lexical similarity and the extractive summariser.

One tokeniser for all three keeps their notions of "the same word" identical: a message the lexical filter calls
similar to a criteria string shares the very tokens BM25 would match on.
"""

import re

_WORD = re.compile(r"\w+")

# Function words that carry no topic (bm25s' English list plus pronouns, auxiliaries and question words: the agent's
# queries are often questions, and "when did she go" should match on "go", not on "when"/"she").
_STOPWORDS_TEXT = """
    a an and are as at be but by for if in into is it no not of on or such that the their then there these they
    this to was will with i me my we our you your he him his she her its them those what which who whom whose how
    when where why do does did has have had been being were am so than too very can could would should may might
    must shall from up down out over under again just also any all some about
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive form of a whole text (used to detect an exact-content match)."""
    return " ".join(text.split()).casefold()


def _stem(word: str) -> str:
    # A deliberately light stemmer: folding the plural "s" is enough to match "results" with "result" in short
    # memory texts; anything heavier (Porter) would need a dependency and over-merge names.
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """The text's content words in order: lower-cased `\\w+` tokens, stopwords dropped, plural `s` folded."""
    return [_stem(w) for w in _WORD.findall(text.casefold()) if w not in STOPWORDS]


def split_sentences(text: str) -> list[str]:
    """Split text into sentences at `.`, `!`, `?` or a line break followed by whitespace; empty pieces dropped."""
    pieces = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in pieces if p.strip()]
