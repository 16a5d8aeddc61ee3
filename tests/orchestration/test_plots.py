"""The metadata plots take pandas columns as the assets hand them over: filtered, gappy index."""

import numpy as np
import pandas as pd

from orchestration import plots


def test_icc_plot_of_a_filtered_calibration():
    rng = np.random.default_rng(3)
    cal = pd.DataFrame(
        {
            "a": rng.lognormal(0, 0.3, 40),
            "b": rng.normal(0, 1, 40),
            "c": rng.uniform(0.1, 0.25, 40),
            "question_version_id": np.arange(1000, 1040),
            "calibrated": rng.random(40) < 0.7,
        }
    )
    kept = cal[cal["calibrated"]]  # the index now has gaps, as after screening
    assert not kept.index.equals(pd.RangeIndex(len(kept)))
    fig = plots.item_characteristic_curves(
        kept["a"], kept["b"], kept["c"], kept["question_version_id"].tolist(), "t"
    )
    lines = fig.axes[0].get_lines()
    assert len(lines) == 12
    # spread over the difficulty range: the easiest and the hardest kept item are drawn
    labels = {line.get_label() for line in lines}
    by_b = kept.sort_values("b")["question_version_id"]
    assert {str(by_b.iloc[0]), str(by_b.iloc[-1])} <= labels
    assert plots.as_markdown(fig, "icc").value.startswith("![icc](data:image/png;base64,")
