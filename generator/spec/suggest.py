"""'Did you mean ...?' for unknown keys, enum values and dangling references."""

from __future__ import annotations

from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    options = list(choices)
    lowered = {option.lower(): option for option in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    import difflib  # here: only an error asks for a suggestion (its import costs a generate 1 ms)

    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if match:
        return lowered[match[0]]
    # an abbreviation or a longer form: 'production' for 'prod', 'stg' is left alone
    prefixed = [
        o for o in lowered if len(o) >= 3 and (word.lower().startswith(o) or o.startswith(word.lower()))
    ]
    return lowered[prefixed[0]] if len(prefixed) == 1 else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' or an empty string."""
    match = closest(word, choices)
    return f"did you mean {match!r}?" if match and match != word else ""


def one_of(choices: Iterable[str]) -> str:
    options = [repr(c) for c in dict.fromkeys(choices)]
    if not options:
        return "(none are defined)"
    if len(options) == 1:
        return options[0]
    return ", ".join(options[:-1]) + " or " + options[-1]
