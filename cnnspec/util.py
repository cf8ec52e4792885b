"""Small helpers shared across subpackages (pure Python): did-you-mean suggestions, FILE#VARIANT
paths and printable user text."""
from __future__ import annotations

import difflib
import re
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


# C0 controls except tab and newline, DEL and C1 controls (ESC starts terminal escape sequences)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``str(text)`` with control bytes shown as ``\\xNN`` (tab and newline kept): user text
    (file, layer, class names) reaches a terminal without its escape sequences."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
