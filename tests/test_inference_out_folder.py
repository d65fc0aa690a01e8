"""``python -m pmgsam.engine.inference --out`` is a folder: ``--out inf/mask.png`` (a user
expecting one mask file for one image) made a folder named ``mask.png`` holding ``photo.png``.
Such a name is refused before anything is read, unless that folder exists already."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.engine.inference import main
from pmgsam.engine.inference_options import build_parser, parse_arguments
from pmgsam.utils.cli import exit_status


@pytest.mark.parametrize("option", ["--out", "--premask-out"])
@pytest.mark.parametrize("name", ["mask.png", "mask.JPG", "mask.tiff"])
def test_an_out_named_like_an_image_file_is_refused(tmp_path: Path, capsys, option, name) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"not read: refused before")
    target = tmp_path / "inf" / name
    outs = {"--out": tmp_path / "pred", option: target}
    argv = ["--checkpoint", tmp_path / "none.safetensors", "--input", image]
    argv += [a for opt, out in outs.items() for a in (opt, out)]
    assert exit_status(main, argv) == 2
    err = capsys.readouterr().err
    assert f"{option} '{target}' looks like an image file, but {option} is a folder" in err
    assert not (tmp_path / "inf").exists()


def test_an_existing_folder_of_such_a_name_and_other_names_pass(tmp_path: Path) -> None:
    folder = tmp_path / "maps.png"
    folder.mkdir()
    for out in (folder, tmp_path / "new_folder", tmp_path / "run.v2"):
        args = parse_arguments(
            build_parser(), ["--checkpoint", "c", "--input", "i", "--out", str(out)]
        )
        assert args.out == str(out)
