"""DIS folder scoring lists its prediction and GT folders once each: the colour-picture and
photo-GT checks and the pairing read the same listing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from test_dis_folder_scoring import _write_folder

from pmgsam.evaluation import map_pairs
from pmgsam.evaluation.scoring import evaluate_dis_folder


def test_each_folder_is_listed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pdir, gdir, _ = _write_folder(tmp_path, n=2)
    listed = Counter()
    real = map_pairs.list_files

    def counted(folder, *args, **kwargs):
        listed[Path(folder)] += 1
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(map_pairs, "list_files", counted)
    summary, per_image = evaluate_dis_folder(pdir, gdir, workers=1, with_hce=False, progress=False)
    assert [r.name for r in per_image] == ["img0", "img1"] and summary["num_images"] == 2
    # Each was listed twice (the checks, then pair_folders) before they shared the listing.
    assert listed == {pdir: 1, gdir: 1}
