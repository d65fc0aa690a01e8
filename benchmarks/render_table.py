"""Render benchmarks/results/*.json (efficiency-report records) as the table in BENCHMARKS.md.

    python benchmarks/render_table.py [--results benchmarks/results] [--doc BENCHMARKS.md]
    python benchmarks/render_table.py --results DIR --print     # the table on stdout only

The table replaces whatever stands between the ``<!-- results-table:start -->`` and
``<!-- results-table:end -->`` markers of the document; records are never edited by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from pmgsam.evaluation.run_efficiency import speed_option_names

START, END = "<!-- results-table:start -->", "<!-- results-table:end -->"
COLUMNS = (
    ("device", "device"), ("threads", "threads"), ("mode", "mode"), ("model", "model"),
    ("dtype", "dtype"), ("batch", "batch"), ("image_size", "S"), ("compile", "compile"),
    ("options", "options"),
    ("images_per_s", "images/s"), ("latency_ms", "ms/batch"), ("first_call_ms", "first call ms"),
    ("peak_memory_mb", "peak MB"), ("flops_per_image", "GFLOPs/image"), ("torch", "torch"),
    ("commit", "commit"),
)  # fmt: skip
# Keys that older records lack: the first (compiling) call, the FLOPs, the torch thread count,
# and the options column, which is made from the boolean speed options a record names, a
# compile mode other than torch's default, the U²-Net's BatchNorms folded (records made before
# that option lack the key and ran unfolded), and a generator's prompt grid when it is not the
# packages' 32 per side; a compiled or graph-replayed timing adds its mean difference from the
# eager forward, marked when the record calls its outputs wrong.
OPTIONAL = {"first_call_ms", "flops_per_image", "threads", "options"}


def load_records(folder: Path) -> List[Dict[str, Any]]:
    """Every record of every ``*.json`` file (an object or a list of objects), by file name;
    hidden files are skipped (the output manifest ``--json`` leaves beside its records)."""
    records = []
    for path in sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not JSON ({e})") from None
        for rec in data if isinstance(data, list) else [data]:
            if not isinstance(rec, dict):
                raise ValueError(f"{path}: a record is {type(rec).__name__}, not an object")
            missing = [k for k, _ in COLUMNS if k not in rec and k not in OPTIONAL]
            if missing:
                raise ValueError(f"{path}: record without key(s) {missing}")
            records.append({**rec, "file": path.name})
    return records


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key == "commit":
        return str(value)[:8]
    if key == "flops_per_image":
        value = value / 1e9
    if isinstance(value, float):
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return str(value)


def _options(rec: Dict[str, Any]) -> Optional[str]:
    # Named as run.json's timed_on names them, each only where it acted.
    names = speed_option_names(rec)
    # The compile column holds the scope; a mode other than the default times other kernels.
    mode = rec.get("compile_mode")
    if rec.get("compile") and mode and mode != "default":
        names.append(f"compile mode {mode}")
    # A generator timed on a smaller grid (a rehearsal) is far faster than its default one.
    points = rec.get("points_per_side")
    if points is not None and points != 32:
        names.append(f"{points}² points")
    # A compiled or graph-replayed timing's check against the eager forward (agreement.py).
    check = rec.get("vs_eager")
    if check:
        verdict = "WRONG OUTPUTS, " if check.get("suspect") else ""
        names.append(f"{verdict}vs eager {check['mean_abs_diff']:.1e}")
    return ", ".join(names) or None


def _threads(rec: Dict[str, Any]) -> Optional[int]:
    """The torch thread count of a CPU timing; None on a GPU, whose timing it does not set."""
    return rec.get("threads") if rec["device"] == "cpu" else None


def render(records: List[Dict[str, Any]]) -> str:
    """The markdown table of ``records`` (one row each, "–" for a value a record lacks)."""
    head = [title for _, title in COLUMNS] + ["file"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rec in records:
        rec = {**rec, "options": _options(rec), "threads": _threads(rec)}
        cells = [_cell(k, rec.get(k)) for k, _ in COLUMNS] + [rec["file"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_document(doc: Path, table: str) -> None:
    text = doc.read_text(encoding="utf-8")
    before, start, rest = text.partition(START)
    if not start or END not in rest:
        raise ValueError(f"{doc}: no {START} … {END} block to fill")
    after = rest.split(END, 1)[1]
    doc.write_text(f"{before}{START}\n{table}\n{END}{after}", encoding="utf-8")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="benchmarks/results")
    parser.add_argument("--doc", default="BENCHMARKS.md")
    parser.add_argument("--print", action="store_true", help="print the table, change no file")
    args = parser.parse_args(argv)
    records = load_records(Path(args.results))
    if args.print:
        print(render(records))
        return
    update_document(Path(args.doc), render(records))
    print(f"{len(records)} records from {args.results} rendered into {args.doc}")


if __name__ == "__main__":
    main()
