"""``python -m pmgsam.data.synthetic`` hides its progress bar with ``--quiet``, as every other
command does (it used to take ``--no-progress`` only: ``--quiet`` was a usage error);
``--no-progress`` stays as its other name."""

from __future__ import annotations

import pytest

from pmgsam.data import synthetic


class Generated(Exception):
    pass


@pytest.mark.parametrize(("flag", "progress"), [([], True), (["--quiet"], False),
                                                (["--no-progress"], False)])  # fmt: skip
def test_quiet_and_no_progress_hide_the_bar(monkeypatch, tmp_path, flag, progress) -> None:
    seen = []

    def generate(layout, out, num, seed, size, overwrite, show_progress, **kwargs):
        seen.append(show_progress)
        raise Generated  # nothing is drawn

    monkeypatch.setattr(synthetic, "generate", generate)
    with pytest.raises(Generated):
        synthetic.main(["--layout", "nc4k", "--num", "2", "--out", str(tmp_path), *flag])
    assert seen == [progress]
