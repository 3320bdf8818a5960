"""Site alert and action levels: computed from a location's history, or checked when set by hand (A1-5).

Annex 1 gives only the maximum action limits; a site sets its own levels from historical and
qualification data, "alert levels are always lower than action levels". Two methods are common:
a percentile of the history (alert at the 95th, action at the 99th) or mean + k·σ (alert at
mean + 2σ, action at mean + 3σ). Whatever the history says, the result is never looser than
Annex 1: an action level above the Annex 1 maximum is capped at it.

Conventions:
- Percentiles interpolate linearly between order statistics (rank (n − 1)·p/100, as numpy's
  default and Excel's PERCENTILE.INC), so a hand calculation can check them.
- σ is the sample standard deviation (n − 1).
- Levels are rounded down (to whole counts by default: CFU are whole numbers; to 0.01 otherwise).
  Rounding down never loosens a level.
- If the history is too clean to put alert strictly below action (e.g. all zero counts), alert
  is 0 and action one step (1 count) above it, still within Annex 1.
- Grade A "no growth": alert = action = 0, because any colony is an action excursion.
"""

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from math import floor

from .limits import Annex1Limit, finite_decimal

PERCENTILE, MEAN_K_SIGMA = "percentile", "mean_k_sigma"
METHODS = {PERCENTILE: "Percentile of history", MEAN_K_SIGMA: "Mean + k·σ of history"}
LARGEST = Decimal(10) ** 12  # a level is stored with 14 digits, 2 of them decimals
MAX_K = 10


@dataclass(frozen=True)
class ComputedLevels:
    alert: Decimal
    action: Decimal
    n: int  # results in the history
    mean: Decimal
    sd: Decimal
    capped: bool  # the history gave an action level above Annex 1; Annex 1 applies instead
    notes: tuple[str, ...]


def computed_levels(values, *, method: str, annex1: Annex1Limit, percentile=95, action_percentile=99,
                    alert_k=2, action_k=3, minimum=20, whole=True) -> ComputedLevels:
    """Alert and action levels from `values` (the history) by `method`, never looser than `annex1`."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")
    history = sorted(finite_decimal(value, "Every historical result") for value in values)
    if any(value < 0 for value in history):
        raise ValueError("A historical result cannot be negative.")
    if any(value >= LARGEST for value in history):
        raise ValueError(f"A historical result must be below {LARGEST:,}.")
    if len(history) < minimum:
        raise ValueError(f"Computing levels needs at least {minimum} historical results; there are {len(history)}.")
    if len(history) < 2:
        raise ValueError("Computing levels needs at least 2 historical results.")
    mean = sum(history) / len(history)
    sd = (sum((value - mean) ** 2 for value in history) / (len(history) - 1)).sqrt()
    if method == PERCENTILE:
        low = finite_decimal(percentile, "The alert percentile")
        high = finite_decimal(action_percentile, "The action percentile")
        if not 0 < low < high <= 100:
            raise ValueError("Percentiles must satisfy 0 < alert percentile < action percentile ≤ 100.")
        alert, action = _percentile(history, low), _percentile(history, high)
    else:
        low, high = finite_decimal(alert_k, "The alert k"), finite_decimal(action_k, "The action k")
        if not 0 <= low < high <= MAX_K:
            raise ValueError(f"The multipliers must satisfy 0 ≤ alert k < action k ≤ {MAX_K}.")
        alert, action = mean + low * sd, mean + high * sd
    step = Decimal(1) if whole else Decimal("0.01")
    alert, action = _round_down(alert, step), _round_down(action, step)
    notes: list[str] = []
    shown_mean, shown_sd = mean.quantize(Decimal("0.01")), sd.quantize(Decimal("0.01"))

    if annex1.no_growth:
        notes.append(f"Grade {annex1.grade} allows no growth (Annex 1): any colony is an action excursion, "
                     "so alert and action are both 0.")
        return ComputedLevels(Decimal(0), Decimal(0), len(history), shown_mean, shown_sd, action > 0, tuple(notes))

    capped = annex1.value is not None and action > annex1.value
    if capped:
        notes.append(f"The history gives an action level of {action}, above the Annex 1 maximum of "
                     f"{annex1.value}; the Annex 1 maximum applies.")
        action = _round_down(annex1.value, step)
    if annex1.value is None:
        notes.append("Annex 1 sets no limit here: the levels come from the site's history only.")
    if alert >= action and action < step:
        alert, action = Decimal(0), step
        notes.append(f"The history is too clean to separate the levels: alert 0, action {action}.")
    elif alert >= action:
        alert = action - step
        notes.append(f"Alert lowered to {alert} so that it stays below the action level of {action}.")
    return ComputedLevels(alert, action, len(history), shown_mean, shown_sd, capped, tuple(notes))


def level_problems(alert, action, annex1: Annex1Limit) -> list[str]:
    """What is wrong with a hand-set alert/action pair (empty: nothing)."""
    problems = []
    try:
        alert, action = finite_decimal(alert, "The alert level"), finite_decimal(action, "The action level")
    except ValueError as error:
        return [str(error)]
    for name, level in (("alert", alert), ("action", action)):
        if level < 0:
            problems.append(f"The {name} level cannot be negative ({level}).")
        if level >= LARGEST:
            problems.append(f"The {name} level must be below {LARGEST:,}.")
    if annex1.no_growth:
        if action != 0 or alert != 0:
            problems.append(f"Grade {annex1.grade} allows no growth (Annex 1): alert and action must both be 0, "
                            "since any colony is an action excursion.")
        return problems
    if alert >= action:
        problems.append(f"The alert level ({alert}) must be below the action level ({action}) (A1-5).")
    if annex1.value is not None and action > annex1.value:
        problems.append(f"The action level ({action}) is above the Annex 1 maximum of {annex1.value}; "
                        "set it at or below that.")
    return problems


def _percentile(ordered: list[Decimal], p: Decimal) -> Decimal:
    rank = (len(ordered) - 1) * p / 100
    below = floor(rank)
    if below + 1 >= len(ordered):
        return ordered[-1]
    return ordered[below] + (rank - below) * (ordered[below + 1] - ordered[below])


def _round_down(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_FLOOR)
