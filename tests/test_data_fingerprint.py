"""The training data fingerprint a resumed run is checked by: the image and mask paths under
``data.root``, their byte sizes and their first and last bytes (a dataset copied elsewhere keeps
them, an image replaced in place does not, though of the same size), and the sizes-only and
paths-only fingerprints that states of an older pmgsam hold."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

from pmgsam.engine.train_data import (
    SAMPLE_BYTES,
    data_fingerprint,
    paths_fingerprint,
    sizes_fingerprint,
)


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


def test_the_fingerprint_holds_each_files_relative_path_size_and_bytes(tmp_path) -> None:
    train = _split(tmp_path / "A" / "TR", {"a": (10, 7)})
    val = _split(tmp_path / "A" / "VD", {"b": (3, 4)})
    fingerprint = data_fingerprint(str(tmp_path / "A"), train, val)
    assert fingerprint == _sha(
        "TR/im/a.jpg 10\niiiiiiiiiiTR/gt/a.png 7\nggggggg|VD/im/b.jpg 3\niiiVD/gt/b.png 4\ngggg|"
    )
    # Paths and sizes, as states written before the sampled bytes hold it.
    sizes_only = sizes_fingerprint(str(tmp_path / "A"), train, val)
    assert sizes_only == _sha("TR/im/a.jpg 10\nTR/gt/a.png 7\n|VD/im/b.jpg 3\nVD/gt/b.png 4\n|")
    # The paths alone, as states written before the sizes hold it.
    paths_only = paths_fingerprint(str(tmp_path / "A"), train, val)
    assert paths_only == _sha("TR/im/a.jpg\n|VD/im/b.jpg\n|")
    # A file outside the root is named by its absolute path.
    outside = _split(tmp_path / "elsewhere", {"c": (1, 2)})
    assert sizes_fingerprint(str(tmp_path / "A"), outside) == _sha(
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


def test_a_file_replaced_by_another_of_the_same_size_is_other_data(tmp_path) -> None:
    root = tmp_path / "A"
    big = 3 * SAMPLE_BYTES
    train = _split(root, {"a": (big, 7), "b": (12, 9)})
    fingerprint, sizes_only = (
        data_fingerprint(str(root), train),
        sizes_fingerprint(str(root), train),
    )
    image = root / "im" / "a.jpg"
    for start in (0, big - 1):  # a byte at either end of a large file, sampled there
        image.write_bytes(b"i" * start + b"x" + b"i" * (big - start - 1))
        assert data_fingerprint(str(root), train) != fingerprint
        assert sizes_fingerprint(str(root), train) == sizes_only  # what older states saw
    image.write_bytes(b"i" * big)
    assert data_fingerprint(str(root), train) == fingerprint
    (root / "gt" / "b.png").write_bytes(b"G" * 9)  # a small file is read whole
    assert data_fingerprint(str(root), train) != fingerprint
