"""Is one setting ahead of another, or is the difference luck? The rule of notebook 04.

Introduced in 04_how_a_network_learns, which writes the rule out cell by cell; reused in
09_fixing_overfitting. Runs with the same seed start from the same weights, so two settings
are compared seed by seed: the per-seed differences of their scores. One setting is
**ahead** when every difference has the same sign *and* their mean is more than t standard
errors from 0 (the standard error of the mean: the standard deviation of the differences
divided by the square root of the number of seeds; t from Student's t distribution, 4.30 for
three seeds). Otherwise the comparison is **undecided**. The rule calls a winner less than
5% of the time when the two settings are in truth equally good.
"""
import math

import numpy as np
from scipy import stats


def t_factor(n_seeds):
    """Student's t for a two-sided 95% interval with `n_seeds` - 1 degrees of freedom."""
    if n_seeds < 2:
        raise ValueError(f"need at least 2 seeds to compare, got {n_seeds}")
    return float(stats.t.ppf(0.975, df=n_seeds - 1))


def compare(first, second, first_name="first", second_name="second"):
    """Compare two settings' scores, given per seed (same seeds, same order).

    Returns a dict: the mean difference (first - second), its standard error, their ratio
    and the verdict ("<name> ahead" or "undecided").
    """
    differences = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    if differences.shape != (len(differences),) or len(differences) < 2:
        raise ValueError("give each setting's scores as two lists of the same length, one score per seed (at least 2)")
    mean = differences.mean()
    standard_error = differences.std(ddof=1) / math.sqrt(len(differences))
    one_sign = bool((differences > 0).all() or (differences < 0).all())
    ratio = mean / standard_error if standard_error > 0 else math.copysign(math.inf, mean)
    ahead = one_sign and abs(ratio) > t_factor(len(differences))
    verdict = f"{first_name if mean > 0 else second_name} ahead" if ahead else "undecided"
    return {"mean difference": mean, "std. error": standard_error,
            "mean ÷ std. error": ratio, "verdict": verdict}
