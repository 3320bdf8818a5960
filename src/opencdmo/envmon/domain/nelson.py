"""Nelson rules for control charts of EM results (STAT-3), with zones (STAT-1) and the
individuals-chart sigma estimate σ = MR̄ / 1.128 (STAT-4).

Conventions (pinned in tests):
- "Beyond kσ" is strictly greater: a point exactly 3σ from the mean does not break rule 1;
  "within 1σ" (rule 7) is therefore |x − mean| ≤ σ, and rule 8 needs |x − mean| > σ.
- A point equal to the mean is on neither side: it breaks a same-side run (rule 2).
- Equal consecutive values break an increasing/decreasing run (rule 3) and an alternating run (rule 4).
- A signal's index is the point at which the condition is first met. Scanning goes on after a
  signal; while the condition keeps holding (a long run) there is no new signal, so a run
  yields one signal, at the point where it first qualifies. Rule 1 flags every point beyond 3σ.
- Rules 5 and 6 flag a point that is itself beyond 2σ (1σ) and completes the count within the
  last 3 (5) points, on the same side; the first points of a series count as a short window.
- With σ = 0 the rules that need σ (1, 5, 6, 7, 8) are skipped; rules 2, 3, 4 still apply.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from math import isfinite

D2 = 1.128  # d2 for moving ranges of two points (STAT-4)

RULES: dict[int, str] = {
    1: "One point more than 3σ from the mean",
    2: "Nine points in a row on the same side of the mean",
    3: "Six points in a row steadily increasing or decreasing",
    4: "Fourteen points in a row alternating up and down",
    5: "Two out of three points in a row more than 2σ from the mean on the same side",
    6: "Four out of five points in a row more than 1σ from the mean on the same side",
    7: "Fifteen points in a row within 1σ of the mean",
    8: "Eight points in a row more than 1σ from the mean, on both sides",
}
_NEEDS_SIGMA = (1, 5, 6, 7, 8)


@dataclass(frozen=True)
class Signal:
    rule: int
    index: int
    description: str


def baseline(values: Sequence[float]) -> tuple[float, float]:
    """The centre line and σ of an individuals chart: the mean and MR̄ / 1.128."""
    points = _points(values)
    if not points:
        raise ValueError("A baseline needs at least one value.")
    ranges = [abs(b - a) for a, b in pairwise(points)]
    sigma = sum(ranges) / len(ranges) / D2 if ranges else 0.0
    return sum(points) / len(points), sigma


def signals(values: Sequence[float], *, mean: float | None = None, sigma: float | None = None) -> list[Signal]:
    """Every Nelson-rule signal in `values`, ordered by index then rule."""
    points = _points(values)
    if not points:
        return []
    if mean is None or sigma is None:
        default_mean, default_sigma = baseline(points)
        mean = default_mean if mean is None else float(mean)
        sigma = default_sigma if sigma is None else float(sigma)
    if sigma < 0:
        raise ValueError("σ cannot be negative.")
    deviations = [point - mean for point in points]
    steps = [0] + [_sign(b - a) for a, b in pairwise(points)]  # direction into each point
    found: list[Signal] = []
    for rule, conditions in _conditions(deviations, steps, sigma).items():
        for condition in conditions:
            for index, met in enumerate(condition):
                if met and (rule == 1 or index == 0 or not condition[index - 1]):
                    found.append(Signal(rule, index, RULES[rule]))
    return sorted(found, key=lambda signal: (signal.index, signal.rule))


# What makes a trend adverse for environmental monitoring: contamination rising. Rules 4, 7 and 8
# (alternation, too little variation, mixture) speak of the measurement, not of a dirtier room.
ADVERSE_RULES = (1, 2, 3, 5, 6)


def adverse_signals(values: Sequence[float], *, counts: bool = False) -> list[Signal]:
    """The signals of a rise: rules 1, 2, 5 and 6 above the mean, rule 3 increasing. For colony
    counts σ is at least √mean and at least 1 (Poisson counting), so a lone colony on a clean
    series is judged by the alert and action levels, not flagged as a trend as well."""
    points = _points(values)
    mean, sigma = baseline(points)
    if counts:
        sigma = max(sigma, mean ** 0.5, 1.0)
    return [s for s in signals(points, mean=mean, sigma=sigma)
            if s.rule in ADVERSE_RULES
            and (points[s.index] > points[s.index - 1] if s.rule == 3 else points[s.index] > mean)]


def repeated_excursions(times, *, count: int = 3, days: int = 30) -> bool:
    """Did the last `count` alert-or-worse results at one location (ascending datetimes) fall within `days`?"""
    recent = list(times)[-count:]
    if count < 1 or len(recent) < count:
        return False
    return (recent[-1] - recent[0]).total_seconds() <= days * 86_400


def _conditions(deviations: list[float], steps: list[int], sigma: float) -> dict[int, list[list[bool]]]:
    """rule → one list of booleans per side or direction: is the rule's pattern completed at each point?"""
    sides = [_sign(deviation) for deviation in deviations]
    rules: dict[int, list[list[bool]]] = {
        2: [_runs(lambda i, s=side: sides[i] == s, len(sides), 9) for side in (1, -1)],
        3: [_runs(lambda i, d=direction: steps[i] == d, len(steps), 5) for direction in (1, -1)],
        # 14 points alternate when their 13 steps do: each step is non-zero and reverses the one before.
        4: [_runs(lambda i: steps[i] != 0 and steps[i] == -steps[i - 1], len(steps), 12)],
    }
    if sigma > 0:
        def beyond(k: int, side: int) -> list[bool]:
            return [side * deviation > k * sigma for deviation in deviations]

        rules[1] = [[abs(deviation) > 3 * sigma for deviation in deviations]]
        rules[5] = [_k_of_n(beyond(2, side), 2, 3) for side in (1, -1)]
        rules[6] = [_k_of_n(beyond(1, side), 4, 5) for side in (1, -1)]
        rules[7] = [_runs(lambda i: abs(deviations[i]) <= sigma, len(deviations), 15)]
        outside = [abs(deviation) > sigma for deviation in deviations]
        rules[8] = [[index >= 7 and all(outside[index - 7:index + 1])
                     and {sides[j] for j in range(index - 7, index + 1)} == {1, -1}
                     for index in range(len(deviations))]]
    return dict(sorted(rules.items()))


def _runs(holds: Callable[[int], bool], length: int, needed: int) -> list[bool]:
    """At each point: has `holds` been true for at least `needed` points in a row, ending here?"""
    met, run = [], 0
    for index in range(length):
        run = run + 1 if holds(index) else 0
        met.append(run >= needed)
    return met


def _k_of_n(beyond: list[bool], k: int, n: int) -> list[bool]:
    return [beyond[index] and sum(beyond[max(0, index - n + 1):index + 1]) >= k for index in range(len(beyond))]


def _points(values: Sequence[float]) -> list[float]:
    points = [float(value) for value in values]
    if not all(isfinite(point) for point in points):
        raise ValueError("A control chart needs finite numbers.")
    return points


def _sign(number: float) -> int:
    return (number > 0) - (number < 0)
