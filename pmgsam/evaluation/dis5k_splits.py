"""The DIS5K test split names that run.json, the tables and merged runs key results by, spelled
once. A leaf module: :mod:`~pmgsam.evaluation.run_json` reads run files for
:mod:`~pmgsam.evaluation.tables` and :mod:`~pmgsam.evaluation.combined`, so it can import
neither of them, and all three take the names from here. The dataset's folder names
(``pmgsam.data.config.BASE_SPLITS``) are the same strings.
"""

from __future__ import annotations

DIS5K_VAL = "DIS-VD"
TE_PARTS = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")
#: The splits a DIS5K run is scored on (its config's default ``data.test_splits``).
DIS5K_TEST_SPLITS = (DIS5K_VAL, *TE_PARTS)
#: DIS-TE1..4 scored as one set: the DIS table's "Overall (TE1-4)" column.
ALL_TE_NAME = "DIS-TE1-4"
