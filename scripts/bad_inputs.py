"""Bad-input corpus: build broken inputs, run every CLI on them, check each answer.

    python scripts/bad_inputs.py [--dir /tmp/pmgsam_bad_inputs] [--only inference,train]

Every case must exit non-zero with one ``error:`` line on stderr and no traceback, and the
data-loss cases must leave every input byte unchanged. Prints one row per case (PASS/FAIL, exit
status, the error line) and exits 1 if any case fails. Runs on CPU in a few minutes (each case
is a fresh ``python`` process); the corpus folder is rebuilt on every run. The cases past
this file's size are in ``bad_inputs_more.py`` beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
CORPUS_MARK = ".pmgsam-bad-inputs"
DEFAULT_DIR = "/tmp/pmgsam_bad_inputs"
# The tools the cases run (Case.tool), which --only chooses among.
TOOLS = ("ablate", "analysis", "baselines", "efficiency", "evaluate", "inference", "report",
         "synthetic", "train")  # fmt: skip


@dataclass
class Case:
    """One bad input: the command (argv after ``python``), and folders that must not change."""

    name: str
    tool: str
    argv: List[str]
    why: str
    unchanged: List[Path] = field(default_factory=list)
    expect: Optional[str] = None  # a phrase the error line must contain


def digest(folder: Path) -> Dict[str, str]:
    """sha256 of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def build_corpus(root: Path) -> List[Case]:
    """Write the broken inputs under ``root`` and return the cases that use them."""
    import cv2
    import numpy as np
    import torch

    import pmgsam
    from pmgsam.data.io import load_mask
    from pmgsam.data.synthetic import generate
    from pmgsam.data.synthetic_files import write_png
    from pmgsam.modeling.checkpoint import save_model

    if root.exists() and any(root.iterdir()):
        if not (root / CORPUS_MARK).is_file():  # never delete a folder this script did not build
            raise SystemExit(f"--dir '{root}' is not empty and holds no corpus; choose another")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / CORPUS_MARK).write_text(
        "built by scripts/bad_inputs.py; rebuilt on each run\n", encoding="utf-8"
    )
    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir()
    for i in range(2):
        write_png(images / f"img{i}.png", rng.integers(0, 255, (40, 50, 3), np.uint8))
    gt = root / "gt"
    gt.mkdir()
    for i in range(2):
        write_png(gt / f"img{i}.png", (rng.random((40, 50)) > 0.5).astype(np.uint8) * 255)
    mixed = root / "mixed_images"
    shutil.copytree(images, mixed)
    (mixed / "zero.png").write_bytes(b"")
    (mixed / "text.jpg").write_text("not an image", encoding="utf-8")
    cut = root / "truncated_images"
    cut.mkdir()
    png = cv2.imencode(".png", rng.integers(0, 255, (64, 64, 3), np.uint8))[1].tobytes()
    (cut / "cut.png").write_bytes(png[:300])
    (root / "empty").mkdir()

    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=64)
    ckpt = save_model(model, root / "tiny.safetensors")
    # The same weights recorded as trained on a branch file that has moved since: an override
    # may then point at its new place, here at a bad file.
    trained, on_file = model.config, {}
    for name in ("hiera_checkpoint", "u2net_checkpoint"):
        model.config = replace(trained, **{name: "/a/w.pth"})
        on_file[name] = save_model(model, root / f"on_{name}.safetensors")
    (root / "text.safetensors").write_text("hello", encoding="utf-8")
    (root / "text.pth").write_text("hello world", encoding="utf-8")
    torch.save({"model": torch.zeros(2), "args": argparse.Namespace(lr=1)}, root / "pickle.pth")
    data = generate("dis5k", root / "data", num=2, seed=0, size=(48, 40))
    bad_data = root / "bad_data" / "DIS5K"
    shutil.copytree(data, bad_data)
    (next((bad_data / "DIS-TE1" / "im").iterdir())).write_bytes(b"")
    for mask in (bad_data / "DIS-TE2" / "gt").iterdir():  # a split whose masks are all empty
        write_png(mask, np.zeros_like(load_mask(mask)))
    foreign = root / "not_generated" / "DIS5K"
    foreign.mkdir(parents=True)
    (foreign / "mine.txt").write_text("user data", encoding="utf-8")
    (root / "run_empty").mkdir()
    (root / "run_empty" / "run.json").write_text("{}", encoding="utf-8")
    (root / "run_bad").mkdir()
    (root / "run_bad" / "run.json").write_text("{not json", encoding="utf-8")
    (root / "bad_grid").mkdir()
    (root / "bad_grid" / "grid.yaml").write_text("rows: [unclosed\n", encoding="utf-8")
    (root / "list.json").write_text("[1, 2]", encoding="utf-8")
    (root / "run_no_maps").mkdir()
    mine = root / "my_experiment"  # a user's folder with their own config, not a run
    mine.mkdir()
    (mine / "config.yaml").write_text("# my notes\nmodel: {hiera: large}\n", encoding="utf-8")
    coco = {"images": [{"id": 1, "file_name": "img0.png", "height": 40, "width": 50},
                       {"id": 1, "file_name": "img1.png", "height": 40, "width": 50}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                             "segmentation": [[1, 1, 20, 1, 20, 20]]}],
            "categories": [{"id": 1, "name": "object"}]}  # fmt: skip
    (root / "coco_twice.json").write_text(json.dumps(coco), encoding="utf-8")
    turned = root / "turned_maps"  # img0's map has the GT's width and height swapped
    turned.mkdir()
    write_png(turned / "img0.png", np.zeros((50, 40), np.uint8))
    write_png(turned / "img1.png", np.zeros((40, 50), np.uint8))
    exif = root / "exif_data"  # a phone photo shown turned, its mask drawn on that view
    for sub in ("images", "masks"):
        (exif / sub).mkdir(parents=True)
    from PIL import Image

    tag = Image.Exif()
    tag[0x0112] = 6
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), np.uint8)).save(exif / "images/phone.jpg",
                                                                   exif=tag)  # fmt: skip
    write_png(exif / "masks" / "phone.png", np.full((60, 40), 255, np.uint8))
    for name in ("plain0", "plain1"):  # the training and validation parts carved need these
        write_png(exif / "images" / f"{name}.png", rng.integers(0, 255, (40, 60, 3), np.uint8))
        write_png(exif / "masks" / f"{name}.png", np.full((40, 60), 255, np.uint8))
    scored = root / "run_scored" / "pred" / "DIS-TE1"  # scored maps of weights changed since
    scored.mkdir(parents=True)
    for mask in (data / "DIS-TE1" / "gt").iterdir():
        shutil.copy(mask, scored / mask.name)
    meta = {"checkpoint": str(ckpt), "weights_sha256": "0" * 64}
    (root / "run_scored" / "run.json").write_text(
        json.dumps({"method": "m", "meta": meta}), encoding="utf-8"
    )

    cased = root / "cased_images"  # a.png and A.jpg: one map file on macOS / Windows
    cased.mkdir()
    shutil.copy(images / "img0.png", cased / "a.png")
    shutil.copy(images / "img1.png", cased / "A.jpg")
    hiera = model.hiera.trunk.state_dict()
    torch.save({"model_state": hiera}, root / "hiera_a.pth")
    key = next(k for k, v in hiera.items() if v.is_floating_point())
    torch.save({"model_state": {**hiera, key: hiera[key] + 0.01}}, root / "hiera_b.pth")
    on_a = pmgsam.build_model(trained, hiera_checkpoint=str(root / "hiera_a.pth"))
    ckpt_a = save_model(on_a, root / "on_hiera_a.safetensors")
    base = REPO / "configs" / "demo.yaml"
    twice = f"base: {base}\noptim:\n  lr: 0.5\noptim:\n  weight_decay: 0.1\n"  # lr is lost
    (root / "twice.yaml").write_text(twice, encoding="utf-8")
    generated = generate("dis5k", root / "gen", num=2, seed=0, size=(48, 40))
    (generated / "DIS-TR" / "im" / "my_photo.jpg").write_bytes(b"the user's own")
    infer = ["-m", "pmgsam.engine.inference", "--checkpoint", str(ckpt)]
    on_hiera = ["-m", "pmgsam.engine.inference", "--checkpoint", str(on_file["hiera_checkpoint"])]
    on_u2net = ["-m", "pmgsam.engine.inference", "--checkpoint", str(on_file["u2net_checkpoint"])]
    train = ["train.py", "--config", "configs/demo.yaml", "--output-dir", str(root / "run")]
    demo_data = [f"data.root={data}", "data.num_workers=0"]
    cases = [
        Case("out-is-input", "inference", [*infer, "--input", str(images), "--out", str(images)],
             "--out is the input folder", [images], "input folder"),
        Case("out-is-input-spelled-otherwise", "inference",
             [*infer, "--input", str(images), "--out", str(images / "pred" / "..")],
             "--out is the input folder, through a subfolder and '..'", [images], "input folder"),
        Case("out-is-gt", "inference", [*infer, "--input", str(images), "--out", str(gt)],
             "--out holds files the tool did not write (GT masks)", [images, gt], "did not write"),
        Case("unreadable-images", "inference",
             [*infer, "--input", str(mixed), "--out", str(root / "pred_mixed")],
             "zero-byte and non-image files among good images", [mixed], "cannot be read"),
        Case("truncated-in-worker", "inference",
             [*infer, "--input", str(cut), "--out", str(root / "pred_cut"), "--num-workers", "1"],
             "truncated PNG read in a DataLoader worker", [cut], "the run stopped there"),
        Case("empty-folder", "inference", [*infer, "--input", str(root / "empty"),
             "--out", str(root / "p1")], "no images", expect="no images"),
        Case("missing-folder", "inference", [*infer, "--input", str(root / "nope"),
             "--out", str(root / "p2")], "missing input folder", expect="does not exist"),
        Case("batch-size-0", "inference", [*infer, "--input", str(images), "--out",
             str(root / "p3"), "--batch-size", "0"], "--batch-size 0", expect="at least 1"),
        Case("missing-checkpoint", "inference", ["-m", "pmgsam.engine.inference", "--checkpoint",
             str(root / "nope.safetensors"), "--input", str(images), "--out", str(root / "p4")],
             "checkpoint does not exist", expect="does not exist"),
        Case("corrupt-checkpoint", "inference", ["-m", "pmgsam.engine.inference", "--checkpoint",
             str(root / "text.safetensors"), "--input", str(images), "--out", str(root / "p5")],
             "text file named .safetensors", expect="safetensors"),
        Case("not-a-checkpoint-folder", "inference", ["-m", "pmgsam.engine.inference",
             "--checkpoint", str(root / "empty"), "--input", str(images), "--out",
             str(root / "p6")], "folder without weights", expect="no PMG-SAM weights"),
        Case("pickle-frozen-branch", "inference", [*on_hiera, "--input", str(images), "--out",
             str(root / "p7"), f"hiera_checkpoint={root / 'pickle.pth'}"],
             "pickle with Python objects", expect="not a safe checkpoint"),
        Case("text-frozen-branch", "inference", [*on_u2net, "--input", str(images), "--out",
             str(root / "p8"), f"u2net_checkpoint={root / 'text.pth'}"],
             "text file as a torch checkpoint", expect="not a PyTorch checkpoint"),
        Case("train-bad-key", "train", [*train, "optim.lrr=1"], "unknown config key",
             expect="optim.lrr"),
        Case("train-check-files", "train", [*train, *demo_data, "data.check_files=true",
             "data.train_split=DIS-TE1", "data.val_split=DIS-TE2", f"data.root={bad_data}"],
             "zero-byte image, all-empty masks (data.check_files)", [bad_data], "2 problem(s)"),
        Case("train-missing-data", "train", [*train, f"data.root={root / 'nope'}"],
             "missing dataset folder", expect="does not exist"),
        Case("evaluate-missing-pred", "evaluate", ["evaluate.py", "--pred-dir",
             str(root / "nope"), "--gt-dir", str(gt), "--out", str(root / "m.json")],
             "missing prediction folder"),
        Case("evaluate-batch-size-0", "evaluate", ["evaluate.py", "--config", "configs/demo.yaml",
             "--checkpoint", str(ckpt), "--dataset", "dis5k", "--splits", "DIS-TE1",
             "--batch-size", "0"], "--batch-size 0", expect="at least 1"),
        Case("report-malformed", "report", ["-m", "pmgsam.report", str(root / "run_bad"),
             "--out", str(root / "tables")], "run.json is not JSON"),
        Case("report-empty", "report", ["-m", "pmgsam.report", str(root / "run_empty"),
             "--out", str(root / "tables2")], "run.json is {}"),
        Case("synthetic-not-ours", "synthetic", ["-m", "pmgsam.data.synthetic", "--layout",
             "dis5k", "--out", str(root / "not_generated"), "--no-progress"],
             "output folder not made by the generator", [foreign], "not made by this generator"),
        Case("synthetic-num-0", "synthetic", ["-m", "pmgsam.data.synthetic", "--layout", "dis5k",
             "--out", str(root / "s"), "--num", "0"], "--num 0", expect="at least 2"),
        Case("efficiency-bad-config", "efficiency", ["-m", "pmgsam.efficiency", "--config",
             str(root / "nope.yaml"), "--device", "cpu"], "missing config",
             expect="does not exist"),
        Case("baselines-pickle", "baselines", ["evaluate.py", "--baseline", "sam-box",
             "--model-type", "vit_b", "--config", "configs/demo.yaml", "--dataset", "dis5k",
             "--splits", "DIS-TE1", "--checkpoint", str(root / "pickle.pth"), "--output-dir",
             str(root / "sam"), f"data.root={data}"],
             "SAM checkpoint with Python objects", expect="not a safe checkpoint"),
        Case("evaluate-out-is-gt", "evaluate", ["evaluate.py", "--pred-dir", str(gt),
             "--gt-dir", str(gt), "--out", str(gt / "img0.png")],
             "scores JSON aimed at a GT mask", [gt], "input folder"),
        Case("premask-out-is-out", "inference", [*infer, "--input", str(images), "--out",
             str(root / "p10"), "--premask-out", str(root / "p10")],
             "--premask-out equal to --out", [images], "--premask-out"),
        Case("device-meta", "inference", [*infer, "--input", str(images), "--out",
             str(root / "p11"), "--device", "meta"], "--device meta", expect="--device"),
        Case("train-lr-nan", "train", [*train, *demo_data, "optim.lr=.nan"], "NaN learning rate",
             expect="optim.lr"),
        Case("train-bad-override-yaml", "train", [*train, "model.fusion_channels=[1,"],
             "override value that is not YAML", expect="model.fusion_channels"),
        Case("ablate-bad-grid", "ablate", ["-m", "pmgsam.ablate", "--grid",
             str(root / "bad_grid"), "--output-dir", str(root / "abl")],
             "grid.yaml is not YAML", expect="not valid YAML"),
        Case("ablate-unknown-only", "ablate", ["-m", "pmgsam.ablate", "--grid",
             "configs/ablations", "--output-dir", str(root / "abl2"), "--only", "nosuch"],
             "--only names no config of the grid", expect="not in the grid"),
        Case("overlap-not-coco", "analysis", ["-m", "pmgsam.analysis", "overlap", "--gt-json",
             str(root / "list.json"), "--name", "x", "--out", str(root / "ov")],
             "COCO file that is a JSON list", expect="a COCO file is a JSON object"),
        Case("premask-no-maps", "analysis", ["-m", "pmgsam.analysis", "premask", "--run",
             str(root / "run_no_maps"), "--config", "configs/demo.yaml", "--split", "DIS-TE1",
             "--data-root", str(data)], "run folder without maps and no checkpoint",
             expect="--checkpoint"),
        Case("train-into-user-folder", "train", ["train.py", "--config", "configs/demo.yaml",
             "--output-dir", str(mine), *demo_data], "--output-dir holding a user's config.yaml",
             [mine], "holds no PMG-SAM run"),
        Case("cos-image-id-twice", "evaluate", ["evaluate.py", "--task", "cos", "--pred-dir",
             str(gt), "--gt-json", str(root / "coco_twice.json"), "--out",
             str(root / "ap.json")], "COCO GT listing one image id twice", [gt],
             "repeats image id 1"),
        Case("evaluate-limit-in-benchmark", "evaluate", ["evaluate.py", "--config",
             "configs/demo.yaml", "--checkpoint", str(ckpt), "--limit", "3"],
             "--limit outside baseline mode (it would score every image)",
             expect="--limit is not used by benchmark mode"),
        Case("evaluate-turned-map", "evaluate", ["evaluate.py", "--pred-dir", str(turned),
             "--gt-dir", str(gt), "--out", str(root / "t.json"), "--resize-pred"],
             "a map turned by 90° against its GT, with --resize-pred", [turned, gt],
             "turned by 90°"),
        Case("train-exif-mask", "train", [*train, "data.dataset=folder", f"data.root={exif}",
             "data.train_split=all", "data.val_split=null", "data.check_files=true",
             f"data.split_dir={root / 'exif_splits'}",
             "data.num_workers=0"], "mask drawn on an EXIF-turned photo's displayed view",
             [exif], "EXIF orientation 6"),
        Case("premask-changed-weights", "analysis", ["-m", "pmgsam.analysis", "premask", "--run",
             str(root / "run_scored"), "--config", "configs/demo.yaml", "--split", "DIS-TE1",
             "--data-root", str(data)], "predicting into a run scored with other weights",
             [root / "run_scored"], "now holds other weights"),
        Case("stems-equal-but-case", "inference", [*infer, "--input", str(cased), "--out",
             str(root / "p10")], "a.png and A.jpg in one folder", [cased], "equal but for case"),
        Case("other-frozen-weights", "inference", ["-m", "pmgsam.engine.inference",
             "--checkpoint", str(ckpt_a), "--input", str(images), "--out", str(root / "p11"),
             f"model.hiera_checkpoint={root / 'hiera_b.pth'}"],
             "another Hiera file than the checkpoint was trained on", expect="are not those"),
        Case("train-duplicate-yaml-key", "train", ["train.py", "--config", str(root / "twice.yaml"),
             "--output-dir", str(root / "run_twice")], "a YAML key given twice",
             expect="given twice"),
        Case("synthetic-user-file", "synthetic", ["-m", "pmgsam.data.synthetic", "--layout",
             "dis5k", "--out", str(root / "gen"), "--num", "3", "--overwrite"],
             "--overwrite over a generated tree holding a user's photo", [root / "gen"],
             "my_photo.jpg"),
    ]  # fmt: skip
    if not torch.cuda.is_available():
        cases += [
            Case("device-cuda", "inference", [*infer, "--input", str(images), "--out",
                 str(root / "p9"), "--device", "cuda"], "--device cuda without CUDA",
                 expect="--device=cuda"),
            Case("train-device-cuda", "train", [*train, *demo_data, "train.device=cuda"],
                 "train.device=cuda without CUDA", expect="train.device=cuda"),
        ]  # fmt: skip
    return cases + _more_cases_module().more_cases(root, Case, infer, data)


def _more_cases_module():
    """scripts/bad_inputs_more.py, which holds the cases past this file's size."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bad_inputs_more", Path(__file__).with_name("bad_inputs_more.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_case(case: Case, timeout: float = 300) -> tuple:
    """(passed, exit status, error line or reason) of one case."""
    before = [digest(f) for f in case.unchanged]
    proc = subprocess.run(
        [sys.executable, *case.argv], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    line = errors[-1] if errors else (lines[-1] if lines else "")
    problems = []
    if proc.returncode == 0:
        problems.append("exit status 0")
    if "Traceback" in proc.stderr:
        problems.append("traceback")
    if len(errors) != 1:
        problems.append(f"{len(errors)} error lines")
    if case.expect and case.expect not in line:
        problems.append(f"error line lacks {case.expect!r}")
    if [digest(f) for f in case.unchanged] != before:
        problems.append("INPUT FILES CHANGED")
    return not problems, proc.returncode, "; ".join(problems) + (" | " if problems else "") + line


def main(argv: Optional[Sequence[str]] = None, out: Callable[[str], None] = print) -> int:
    from pmgsam.utils.cli import CommandParser, NonEmpty

    # Empty values are refused: '' would be read as '.' (--dir) or as every tool (--only).
    parser = CommandParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dir",
        default=DEFAULT_DIR,
        type=NonEmpty("a corpus folder"),
        help=f"corpus folder, rebuilt (default: {DEFAULT_DIR})",
    )
    parser.add_argument(
        "--only",
        type=NonEmpty("comma-separated tools"),
        help=f"comma-separated tools, e.g. inference,train (of: {', '.join(TOOLS)})",
    )
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else list(TOOLS)
    unknown = [tool for tool in only if tool not in TOOLS]
    if unknown:  # a misspelt tool would select no case and report 0/0 as a pass
        parser.error(
            f"--only: no such tool {', '.join(map(repr, unknown))} (of: {', '.join(TOOLS)})"
        )
    cases = [c for c in build_corpus(Path(args.dir)) if c.tool in only]
    failed = 0
    for case in cases:
        passed, code, line = run_case(case)
        failed += not passed
        out(f"{'PASS' if passed else 'FAIL'} {case.tool:<10} {case.name:<24} exit {code}  {line}")
    out(f"{len(cases) - failed}/{len(cases)} cases answered with one line and no lost data")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
