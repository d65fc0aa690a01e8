"""A second ``python -m pmgsam.data.synthetic`` with the same parameters keeps the tree it made
(nothing is written): its last line says so, where it used to say "wrote"."""

from __future__ import annotations

from pmgsam.data import synthetic


def test_a_rerun_says_it_kept_the_tree(tmp_path, capsys) -> None:
    argv = ["--layout", "nc4k", "--num", "2", "--size", "32x24", "--out", str(tmp_path)]
    argv += ["--no-progress"]
    synthetic.main(argv)
    first = capsys.readouterr().out
    assert first.startswith(f"wrote nc4k to {tmp_path / 'NC4K'} (")
    synthetic.main(argv)
    again = capsys.readouterr().out
    assert again.startswith(f"kept nc4k in {tmp_path / 'NC4K'}, generated before with these")
    synthetic.main([*argv[:3], "3", *argv[4:], "--overwrite"])  # other parameters: rewritten
    assert capsys.readouterr().out.startswith("wrote nc4k to ")
