"""English-looking filler text drawn from a seeded `random.Random`.

Sentences come from a few templates over small word lists, so output reads like
prose, streams like prose (spaces, commas, periods, paragraph breaks) and costs no
model. Words carry no apostrophes, so token counts add up piece by piece.
"""

from __future__ import annotations

import random

from .tokens import count_tokens

__all__ = ["write_phrase", "write_prose", "write_sentence"]

_WORDS: dict[str, tuple[str, ...]] = {
    "det": ("the", "a", "every", "this", "each", "our", "that"),
    "adj": (
        "quiet",
        "bright",
        "careful",
        "simple",
        "steady",
        "modern",
        "gentle",
        "useful",
        "distant",
        "curious",
        "practical",
        "reliable",
        "small",
        "clear",
        "patient",
        "early",
    ),
    "noun": (
        "river",
        "system",
        "garden",
        "engine",
        "village",
        "report",
        "journey",
        "answer",
        "model",
        "window",
        "market",
        "teacher",
        "network",
        "library",
        "mountain",
        "signal",
        "question",
        "kitchen",
        "project",
        "morning",
        "record",
        "pattern",
        "city",
        "method",
    ),
    "verb_s": (
        "follows",
        "supports",
        "reflects",
        "improves",
        "describes",
        "reaches",
        "changes",
        "explains",
        "carries",
        "shapes",
        "connects",
        "measures",
        "protects",
        "reveals",
    ),
    "verb_base": (
        "follow",
        "support",
        "improve",
        "describe",
        "reach",
        "change",
        "explain",
        "carry",
        "shape",
        "connect",
        "measure",
        "protect",
        "reveal",
        "consider",
    ),
    "verb_past": ("noticed", "argued", "found", "suggested", "learned", "showed", "decided"),
    "adverb": (
        "quickly",
        "carefully",
        "often",
        "slowly",
        "clearly",
        "rarely",
        "gradually",
        "together",
        "again",
        "naturally",
        "quietly",
        "well",
    ),
    "prep": ("across", "within", "beyond", "toward", "under", "through", "near", "after"),
    "pronoun": ("we", "they", "people", "researchers", "many readers", "the team"),
    "modal": ("can", "should", "might", "will", "could", "must"),
}

_TEMPLATES = (
    "{det} {adj} {noun} {verb_s} the {noun} {prep} {det} {noun}.",
    "{pronoun} {verb_past} that the {noun} {modal} {verb_base} {adverb}.",
    "in {det} {noun}, {det} {adj} {noun} {verb_s} {adverb}.",
    "{det} {noun} {verb_s} {det} {adj} {noun}, and the {noun} {verb_s} {adverb}.",
    "this {modal} {verb_base} the {noun} {prep} {det} {adj} {noun}.",
    "{pronoun} {modal} {verb_base} {det} {noun} before the {adj} {noun} {verb_s}.",
    "{adverb}, the {noun} {verb_s} {det} {adj} {noun} {prep} the {noun}.",
)


def write_prose(rng: random.Random, min_tokens: int) -> str:
    """Sentences in short paragraphs, ending on a full sentence once `min_tokens` is reached."""
    paragraphs: list[str] = []
    sentences: list[str] = []
    total = 0
    while total < min_tokens:
        sentence = write_sentence(rng)
        sentences.append(sentence)
        total += count_tokens(sentence)
        if len(sentences) >= rng.randint(2, 4):
            paragraphs.append(" ".join(sentences))
            sentences = []
    if sentences:
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def write_sentence(rng: random.Random) -> str:
    sentence = _fill(rng.choice(_TEMPLATES), rng)
    return sentence[0].upper() + sentence[1:]


def write_phrase(rng: random.Random, words: int) -> str:
    """A few lower-case words, for short string values."""
    pool = _WORDS["adj"] + _WORDS["noun"]
    return " ".join(rng.choice(pool) for _ in range(words))


def _fill(template: str, rng: random.Random) -> str:
    # Each `{slot}` gets a fresh draw so repeated slots in one template differ.
    parts = template.split("{")
    out = [parts[0]]
    for part in parts[1:]:
        slot, rest = part.split("}", 1)
        out.append(rng.choice(_WORDS[slot]))
        out.append(rest)
    return "".join(out)
