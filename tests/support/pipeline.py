"""Run config that keeps the psychometric assets quick in tests."""

from __future__ import annotations

FAST_CONFIG = {
    "ops": {
        "exposure_control": {
            "config": {"r_max": 0.25, "test_length": 10, "n_simulees": 400, "n_iter": 4}
        },
        "cat_simulation_report": {"config": {"n_simulees": 300, "max_length": 20}},
    }
}
