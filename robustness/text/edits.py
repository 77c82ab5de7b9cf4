"""Replaying edits on a text: one rule for every layer that needs it (the attack protocol's
`Edit` records, the windowed similarity of text around them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class TextEdit(Protocol):
    """At character offset `position` of the original text, `old` becomes `new`."""

    position: int
    old: str
    new: str


def apply_edits(text: str, edits: Sequence[TextEdit]) -> str:
    """The text after `edits` (offsets into `text`); overlapping edits are an error.

    Insertions at the same offset keep their listed order."""
    order = sorted(range(len(edits)), key=lambda i: (edits[i].position, i))
    pieces: list[str] = []
    cursor = 0
    for i in order:
        edit = edits[i]
        if edit.position < cursor:
            raise ValueError(f"edit {edit} overlaps the previous one")
        if text[edit.position : edit.position + len(edit.old)] != edit.old:
            raise ValueError(f"edit {edit} does not match the text at offset {edit.position}")
        pieces.append(text[cursor : edit.position])
        pieces.append(edit.new)
        cursor = edit.position + len(edit.old)
    pieces.append(text[cursor:])
    return "".join(pieces)
