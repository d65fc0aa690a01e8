"""What was added to one folder's file names that keeps them from pairing with another's.

Images pair with masks, and maps with GT masks, by file stem. A dataset whose masks are named
``<stem>_mask.png`` (or maps ``<stem>_pred.png``) pairs with nothing, and the files in the way
are better named by the rule that renames them than listed one by one.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple


def added_to_stems(short: Sequence[str], long: Sequence[str]) -> Optional[Tuple[str, str]]:
    """The (prefix, suffix) that turns every stem in ``short`` into a stem of ``long``
    (``a`` -> ``a_mask``), when one pair does for all of them (the shortest such addition);
    ``None`` otherwise."""
    if not short or not long:
        return None
    long_set = set(long)
    first = short[0]
    # Shortest first: the least added is the rule ('1' -> '1_mask', not '11_mask' read as
    # '1' with '1_mask' after it, nor '01_mask' with '0' before it).
    for candidate in sorted(long, key=len):
        if first not in candidate or candidate == first:
            continue
        # Every split point: 'x' in 'ax_x' is both after 'a' and at the end.
        start = candidate.find(first)
        while start != -1:
            pre, suf = candidate[:start], candidate[start + len(first) :]
            if all(f"{pre}{s}{suf}" in long_set for s in short):
                return pre, suf
            start = candidate.find(first, start + 1)
    return None


def added_words(pre: str, suf: str) -> str:
    """The (prefix, suffix) of :func:`added_to_stems` in words: ``'_mask' after``."""
    ends = (f"'{pre}' before" if pre else "", f"'{suf}' after" if suf else "")
    return " and ".join(e for e in ends if e)


def renaming_hint(unpaired: Dict[str, Dict[str, str]], what: Tuple[str, str]) -> Optional[str]:
    """A sentence saying how to rename when the unpaired stems of one side are the other
    side's with a fixed prefix and/or suffix added; ``None`` when no such rule fits.

    ``unpaired``: for each side's name in ``what`` (e.g. ``("images", "masks")``), its
    unpaired ``{stem: file name}``."""
    a, b = what
    for short, long in ((a, b), (b, a)):
        added = added_to_stems(sorted(unpaired[short]), sorted(unpaired[long]))
        if added is None:
            continue
        pre, suf = added
        first = sorted(unpaired[short])[0]
        example = f"'{unpaired[long][pre + first + suf]}' for '{unpaired[short][first]}'"
        return (
            f"{a} and {b} pair by the file name without its extension (which may differ), "
            f"and the {long} are named with {added_words(pre, suf)} it (e.g. {example}): "
            f"rename the {long} to drop it"
        )
    # Masks exported as 'IMG_0001.PNG' beside 'img_0001.jpg': equal to a case-blind file
    # system (macOS, Windows), where the data may have been prepared, but not on Linux.
    folded = {stem.casefold(): stem for stem in unpaired[b]}
    alike = [(s, folded[s.casefold()]) for s in sorted(unpaired[a]) if s.casefold() in folded]
    if alike:
        first, other = alike[0]
        return (
            f"{len(alike)} of the {a} and {b} are named alike but for case (e.g. "
            f"'{unpaired[a][first]}' and '{unpaired[b][other]}'): file names pair "
            "case-sensitively; rename one side to match the other"
        )
    return None
