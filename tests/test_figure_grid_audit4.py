"""wrap_to_width breaks a long name after its underscores, slashes and dots too, as after its
hyphens (checkpoint and method names: ``sam2_hiera_large``, ``SAM/ViT-H``, ``v1.2``)."""

from __future__ import annotations

import pytest

from pmgsam.analysis import figure_grid


@pytest.mark.parametrize("sep", ["_", "/", "."])
def test_a_long_name_breaks_after_each_kind_of_separator(sep) -> None:
    name = sep.join(["points", "per", "side"])
    # As wide as the name less its last two letters: cut where the line was full, it would
    # read "points?per?si" / "de".
    width = figure_grid.text_width_pt(name[:-2], 7) + 0.01
    assert figure_grid.text_width_pt(name[:-1], 7) > width
    assert figure_grid.wrap_to_width(name, width, 7) == f"points{sep}per{sep}\nside"
