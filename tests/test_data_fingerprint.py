"""The training data fingerprint a resumed run is checked by: the image and mask paths under
``data.root`` and their byte sizes (a dataset copied elsewhere keeps them, an image replaced in
place mostly does not), and the paths-only fingerprint that states of an older pmgsam hold."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

from pmgsam.engine.train_data import data_fingerprint, paths_fingerprint


def _split(root: Path, sizes: dict) -> SimpleNamespace:
    """Images im/<stem>.jpg and masks gt/<stem>.png of ``sizes[stem]`` = (image, mask) bytes."""
    for folder in ("im", "gt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for stem, (image, mask) in sizes.items():
        (root / "im" / f"{stem}.jpg").write_bytes(b"i" * image)
        (root / "gt" / f"{stem}.png").write_bytes(b"g" * mask)
    return SimpleNamespace(
        image_paths=[root / "im" / f"{s}.jpg" for s in sizes],
        mask_paths=[root / "gt" / f"{s}.png" for s in sizes],
    )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_fingerprint_holds_each_files_relative_path_and_size(tmp_path) -> None:
    train = _split(tmp_path / "A" / "TR", {"a": (10, 7)})
    val = _split(tmp_path / "A" / "VD", {"b": (3, 4)})
    fingerprint = data_fingerprint(str(tmp_path / "A"), train, val)
    assert fingerprint == _sha("TR/im/a.jpg 10\nTR/gt/a.png 7\n|VD/im/b.jpg 3\nVD/gt/b.png 4\n|")
    # The paths alone, as states written before the sizes hold it.
    paths_only = paths_fingerprint(str(tmp_path / "A"), train, val)
    assert paths_only == _sha("TR/im/a.jpg\n|VD/im/b.jpg\n|")
    # A file outside the root is named by its absolute path.
    outside = _split(tmp_path / "elsewhere", {"c": (1, 2)})
    assert data_fingerprint(str(tmp_path / "A"), outside) == _sha(
        f"{(tmp_path / 'elsewhere/im/c.jpg').resolve().as_posix()} 1\n"
        f"{(tmp_path / 'elsewhere/gt/c.png').resolve().as_posix()} 2\n|"
    )


def test_a_copy_elsewhere_is_the_same_data_a_file_replaced_in_place_is_not(tmp_path) -> None:
    root = tmp_path / "A"
    train = _split(root / "TR", {"a": (10, 7), "b": (12, 9)})
    fingerprint = data_fingerprint(str(root), train)
    # Copied to scratch (new modification times, as a cluster copy gets): the same data.
    copy = Path(shutil.copytree(root, tmp_path / "scratch" / "A", copy_function=shutil.copyfile))
    os.utime(copy / "TR" / "im" / "a.jpg", (1, 1))
    moved = SimpleNamespace(
        image_paths=[copy / "TR" / "im" / n for n in ("a.jpg", "b.jpg")],
        mask_paths=[copy / "TR" / "gt" / n for n in ("a.png", "b.png")],
    )
    assert data_fingerprint(str(copy), moved) == fingerprint
    # An image, then a mask, replaced under its own name by one of another size: other data,
    # though the paths-only fingerprint of older states cannot tell.
    paths_only = paths_fingerprint(str(root), train)
    (root / "TR" / "im" / "b.jpg").write_bytes(b"other image")
    replaced = data_fingerprint(str(root), train)
    assert replaced != fingerprint and paths_fingerprint(str(root), train) == paths_only
    (root / "TR" / "gt" / "a.png").write_bytes(b"other mask")
    assert data_fingerprint(str(root), train) not in (fingerprint, replaced)
