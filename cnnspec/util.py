"""Small helpers shared across subpackages (pure Python): did-you-mean suggestions and FILE#VARIANT paths."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice closest to ``word`` (an exact case-insensitive match first), or None."""
    choices = [str(c) for c in choices]
    lower = {c.lower(): c for c in choices}
    if word.lower() in lower:
        return lower[word.lower()]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff) or [
        lower[c] for c in difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=cutoff)]
    return close[0] if close else None


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    best = closest(str(word), choices)
    return f" (did you mean '{best}'?)" if best else ""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``did you mean 'x'? `` (to start a sentence) for the closest choice, or an empty string."""
    best = closest(str(word), choices)
    return f"did you mean {best!r}? " if best else ""


def split_variant(path: str | Path) -> tuple[Path, str | None]:
    """``FILE#VARIANT`` -> (FILE, VARIANT); a path that exists as written (even with '#') has no variant."""
    text = str(path)
    if "#" in text and not Path(text).exists():
        f, v = text.rsplit("#", 1)
        return Path(f), v
    return Path(text), None
