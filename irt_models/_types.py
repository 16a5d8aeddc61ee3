"""Array types shared by the modules of `irt_models` (annotations only, nothing at run time)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

#: Real-valued arrays: abilities, item parameters, probabilities, information.
FloatArray = npt.NDArray[np.float64]
#: 0/1 response patterns and masks (served, capped, eligible, quota membership).
BoolArray = npt.NDArray[np.bool_]
#: Item and person indices (what ``np.flatnonzero``, ``np.argmax``, ``np.unique`` return).
IntArray = npt.NDArray[np.intp]
#: Scored responses, 0/1 as integers (calibration codes them as int8).
ResponseArray = npt.NDArray[np.integer[Any]]
