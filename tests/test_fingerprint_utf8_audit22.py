"""Audit test (mutation survivor): hashing names as their bytes (for names that are not UTF-8)
left every UTF-8 name's digest as it was, non-ASCII ones included ('é', 'β'), so training
states and run.json records written before still match their data. Expected values are
SHA-256 of the documented lines, the names UTF-8 encoded."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

from pmgsam.ablation.settings import data_digest
from pmgsam.engine.train_data import data_fingerprint, paths_fingerprint, sizes_fingerprint
from pmgsam.evaluation.table_gt import mask_record

IMAGE, MASK = "é_β.jpg", "é_β.png"


def _data(root: Path) -> SimpleNamespace:
    (root / IMAGE).write_bytes(b"iii")
    (root / MASK).write_bytes(b"gg")
    return SimpleNamespace(image_paths=[root / IMAGE], mask_paths=[root / MASK], names=["x"])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_non_ascii_utf8_names_hash_as_their_utf8_bytes(tmp_path: Path) -> None:
    data = _data(tmp_path)
    image, mask = IMAGE.encode(), MASK.encode()
    sizes = image + b" 3\n" + mask + b" 2\n|"
    assert sizes_fingerprint(str(tmp_path), data) == _sha(sizes)
    assert paths_fingerprint(str(tmp_path), data) == _sha(image + b"\n|")
    assert data_fingerprint(str(tmp_path), data) == _sha(image + b" 3\niii" + mask + b" 2\ngg|")
    stem = "é_β".encode()
    expected = int.from_bytes(hashlib.sha256(stem + b"\0gg").digest(), "big")
    assert mask_record(data.mask_paths)["fingerprint"] == f"{expected:064x}"
    # The ablation's: the part, then each image, mask and skeleton ('-': computed) line.
    ablation = b"[part]\n" + image + b" 3\n" + mask + b" 2\n-\n"
    assert data_digest(str(tmp_path), {"part": data}) == _sha(ablation)
