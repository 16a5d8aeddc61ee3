"""Pure numerical IRT for QBank: the 3PL on the logistic metric (D = 1), nothing of ours imported.

- `irt_models.model`: ``prob_3pl``, ``info_3pl``, log-probabilities; ``METRIC = "logistic_D1"``.
- `irt_models.ability`: ``eap``, ``mle``, ``map_estimate`` → ``AbilityEstimate(theta, se)``.
- `irt_models.calibration`: ``calibrate_3pl`` (Bock-Aitkin EM on sparse responses, fixed priors
  c ~ Beta(5, 17) and log a ~ N(0, 0.5²), Louis standard errors, anchors) → ``CalibrationResult``.
- `irt_models.linking`: ``stocking_lord`` and ``mean_sigma`` linking constants; ``link_anchors``
  (robust linking that flags drifted anchors) → ``AnchorLink``.
- `irt_models.selection`: ``ItemPool``, ``select_next_item`` / ``select_batch`` → ``Selection``.
- `irt_models.exposure`: ``sympson_hetter`` → ``SympsonHetterResult`` (K per item).
- `irt_models.simulation`: ``CatPolicy``, ``simulate_cat`` → ``SimulationReport``.
"""

from irt_models.model import METRIC

__all__ = ["METRIC"]
