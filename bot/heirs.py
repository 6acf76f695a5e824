"""Who may claim a member's death benefit, in the order of PP 44/2015 Pasal 40(2): an heir of a
later group may claim only when there is nobody in the groups before."""

from bot.i18n import N_

GROUPS: tuple[tuple[str, ...], ...] = (
    ("spouse", "child"),
    ("parent", "grandchild", "grandparent"),
    ("sibling",),
    ("parent_in_law",),
    ("will",),
    ("other",),
)
"""Widow/widower or child; then parents, grandchildren, grandparents; then siblings; then
parents-in-law; then whoever the member named in a will; with nobody at all, whoever arranged
the funeral ("other") receives its cost."""
GROUP_OF = {relation: n for n, group in enumerate(GROUPS) for relation in group}
GROUP_NAMES = (N_("heirs.group.spouse_child"), N_("heirs.group.parents"),
               N_("heirs.group.siblings"), N_("heirs.group.in_laws"), N_("heirs.group.will"))
"""How each group before "other" is named when asking whether anyone of it is alive."""


def groups_before(relation: str) -> range:
    """The groups to ask about (whether anyone of them is alive) before this heir may claim."""
    return range(GROUP_OF[relation])
