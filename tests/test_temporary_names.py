"""The hidden temporaries of atomic writes: a user's file of a similar name is never taken for
one (nor deleted) by the clean-ups of map folders and run folders, opening a run clears the
real ones, and a file renamed into place is followed by a sync of its folder (POSIX)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch
from cli_cases import train_main

import pmgsam.engine.state as state_mod
import pmgsam.utils.io as io_mod
from pmgsam.data.splits import load_or_create
from pmgsam.engine.prediction_maps import write_probability_png
from pmgsam.engine.state import remove_run_temporaries, save_checkpoint
from pmgsam.utils.cli import exit_status
from pmgsam.utils.io import atomic_path, remove_stale_temporaries
from pmgsam.utils.outputs import MANIFEST, OutputError, prepare_output_dir

ROOT = Path(__file__).resolve().parents[1]
OURS = ".x.png.pmgsam-0123456789ab.tmp"
# Hidden names a user (or another tool) may well have, shaped like the temporaries of earlier
# versions (`.<name>.<random>.tmp`) or close to ours; none of them is ours.
SIMILAR = [
    ".x.png.k3j2.tmp",
    ".x.png.bak.tmp",
    ".x.png.pmgsam-draft.tmp",
    ".x.png.pmgsam-0123456789AB.tmp",
    ".x.png.pmgsam-0123456789abc.tmp",
]


def test_only_our_temporaries_are_removed_from_a_folder(tmp_path: Path) -> None:
    for name in [OURS, *SIMILAR]:
        (tmp_path / name).write_text("data")
    assert [p.name for p in remove_stale_temporaries(tmp_path)] == [OURS]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SIMILAR)


def test_a_users_similar_file_in_a_map_folder_is_foreign_and_kept(tmp_path: Path) -> None:
    # x.png is a map of ours (the manifest lists it): a killed write left OURS; the files named
    # like it are the user's, refused as foreign and kept by --overwrite.
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"format": "pmgsam-outputs", "files": ["x.png"]}))
    for name in [OURS, *SIMILAR]:
        (out / name).write_text("data")
    with pytest.raises(OutputError, match=rf"{len(SIMILAR)} file\(s\) this tool did not write"):
        prepare_output_dir(out, ["x.png"])
    prepare_output_dir(out, ["x.png"], overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, *SIMILAR])


def test_atomic_write_syncs_the_file_then_the_folder_after_the_rename(
    tmp_path, monkeypatch
) -> None:
    # After a power loss an unsynced rename may be undone, and a renamed file whose data was
    # never flushed can read empty: the new file's contents must be synced before the rename
    # (while the old file still holds the name) and the folder once the new name is in place.
    target = tmp_path / "config.yaml"
    target.write_text("old")
    synced = []

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        synced.append(((st.st_dev, st.st_ino), target.read_text()))

    monkeypatch.setattr(os, "fsync", fsync)
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    folder, new_file = tmp_path.stat(), target.stat()
    assert synced == [
        ((new_file.st_dev, new_file.st_ino), "old"),
        ((folder.st_dev, folder.st_ino), "new"),
    ]


class Weights(torch.nn.Linear):
    """Stands in for PMG-SAM in a checkpoint (the swap does not depend on the model)."""

    def trainable_state_dict(self):
        return self.state_dict()


def test_checkpoint_swap_syncs_the_checkpoints_folder_after_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(state_mod, "save_model", lambda model, path, *a: path.write_bytes(b"w"))
    last, model = tmp_path / "checkpoints" / "last", Weights(2, 2)
    save_checkpoint(last, model, {"epoch": 1})
    synced = []

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        epoch = torch.load(last / "state.pt", weights_only=True)["epoch"] if last.is_dir() else 0
        synced.append(((st.st_dev, st.st_ino), epoch))

    monkeypatch.setattr(os, "fsync", fsync)
    save_checkpoint(last, model, {"epoch": 2})
    parent = last.parent.stat()
    assert ((parent.st_dev, parent.st_ino), 2) in synced


def test_the_map_writer_does_not_sync_per_map(tmp_path, monkeypatch) -> None:
    # Its documented choice: a folder fsync per map would cost about ten times the write.
    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    write_probability_png(torch.full((8, 8), 0.75), tmp_path / "x.png")
    assert (tmp_path / "x.png").is_file() and calls == []


@pytest.mark.parametrize("failure", ["open", "fsync"])
def test_a_folder_that_cannot_be_synced_is_skipped(tmp_path, monkeypatch, failure) -> None:
    # Windows cannot open a folder; some file systems refuse to fsync one (EINVAL).
    if failure == "open":
        real_open = os.open

        def refuse_folders(path, flags, *args):
            if Path(path).is_dir():
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *args)

        monkeypatch.setattr(os, "open", refuse_folders)
    else:
        monkeypatch.setattr(
            os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EINVAL, ""))
        )
    with atomic_path(tmp_path / "a.json") as tmp:
        tmp.write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_an_io_error_syncing_the_folder_is_reported(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O")))
    with pytest.raises(OSError, match="I/O"):
        io_mod.sync_folder(tmp_path)


def demo_attempt(out: Path, data_root: Path) -> list:
    return ["--config", ROOT / "configs/demo.yaml", "--output-dir", out, "train.device=cpu",
            f"data.root={data_root}"]  # fmt: skip


def test_opening_a_run_removes_our_temporaries_only(tmp_path: Path) -> None:
    # An earlier attempt was killed while writing; opening the new run there (it then stops at
    # the missing dataset) clears its temporaries, but not the user's look-alikes kept in the
    # checkpoints folder, which the new-run check does not list.
    out = tmp_path / "run"
    ckpts = out / "checkpoints"
    ckpts.mkdir(parents=True)
    for name in ("train.log", "config.yaml", ".config.yaml.pmgsam-00ff00ff00ff.tmp"):
        (out / name).write_text("x")
    (ckpts / ".last.pmgsam-0a0b0c0d0e0f").mkdir()  # no .tmp: not ours
    ours_dir, theirs_dir = ckpts / ".last.pmgsam-0123456789ab.tmp", ckpts / ".last.k3j2.tmp"
    for folder in (ours_dir, theirs_dir):
        folder.mkdir()
        (folder / "state.pt").write_bytes(b"state")
    (ckpts / ".best.old.tmp").write_text("user data")
    assert exit_status(train_main, demo_attempt(out, tmp_path / "absent")) == 2
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == []
    assert sorted(p.name for p in ckpts.iterdir()) == [
        ".best.old.tmp",
        ".last.k3j2.tmp",
        ".last.pmgsam-0a0b0c0d0e0f",
    ]
    assert (theirs_dir / "state.pt").read_bytes() == b"state"


def test_a_new_run_refuses_a_folder_holding_a_users_similar_file(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    for name in ("train.log", ".config.yaml.k3j2.tmp"):
        (out / name).write_text("user data")
    assert exit_status(train_main, demo_attempt(out, tmp_path / "absent")) == 2
    assert "holds no PMG-SAM run (.config.yaml.k3j2.tmp)" in capsys.readouterr().err
    assert (out / ".config.yaml.k3j2.tmp").read_text() == "user data"


def test_run_cleanup_keeps_a_users_similar_folder_and_file(tmp_path: Path) -> None:
    ckpts = tmp_path / "checkpoints"
    for name in (".last.pmgsam-0123456789ab.tmp", ".last.x1y2z3.tmp"):
        (ckpts / name).mkdir(parents=True)
    (tmp_path / ".metrics.jsonl.x1y2z3.tmp").write_text("user data")
    removed = remove_run_temporaries(tmp_path)
    assert [p.name for p in removed] == [".last.pmgsam-0123456789ab.tmp"]
    assert [p.name for p in ckpts.iterdir()] == [".last.x1y2z3.tmp"]
    assert (tmp_path / ".metrics.jsonl.x1y2z3.tmp").is_file()


def test_saving_a_split_never_writes_over_a_users_similar_file(tmp_path: Path) -> None:
    # The split writer's temporary was `.<file>.<pid>.tmp`: a user's file of that name was
    # written over and renamed away.
    path = tmp_path / "splits" / "s.json"
    path.parent.mkdir()
    theirs = path.with_name(f".s.json.{os.getpid()}.tmp")
    theirs.write_text("user data")
    parts = load_or_create(path, ["a", "b", "c", "d"], ("train", "val"), 0.5, 0, "d", "train")
    assert json.loads(path.read_text())["parts"] == parts
    assert theirs.read_text() == "user data"
