"""The DIS5K split names, spelled once: the dataset's folder names (the data config's
``BASE_SPLITS`` and default splits, the demo data's folders) and the names run.json, the
tables and merged runs key results by. A leaf module, importing nothing: the dataset code
and :mod:`~pmgsam.evaluation.run_json` (which :mod:`~pmgsam.evaluation.tables` and
:mod:`~pmgsam.evaluation.combined` import, so it can import neither) take the names from here.
"""

from __future__ import annotations

DIS5K_TRAIN = "DIS-TR"
DIS5K_VAL = "DIS-VD"
TE_PARTS = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")
#: The splits a DIS5K run is scored on (its config's default ``data.test_splits``).
DIS5K_TEST_SPLITS = (DIS5K_VAL, *TE_PARTS)
#: DIS-TE1..4 scored as one set: the DIS table's "Overall (TE1-4)" column.
ALL_TE_NAME = "DIS-TE1-4"
