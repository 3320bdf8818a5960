"""Out-of-trend: a result within specification that departs from the product's history.

A result is out of trend when it lies beyond the mean ± k standard deviations of the recent
conforming results of the same criterion. Too short a history says nothing: no flag. An
out-of-trend result is not out of specification; it asks the reviewer to look.
"""

from decimal import Decimal


def _text(number: Decimal) -> str:
    return f"{number.normalize():f}" if number == number.to_integral() else f"{number:.4g}"


def out_of_trend(history: list[Decimal], value: Decimal, *, minimum: int = 10, k: int = 3) -> str | None:
    """Why `value` is out of trend against `history` (most recent first or any order), or None."""
    values = [Decimal(v) for v in history if v is not None]
    if len(values) < minimum or value is None:
        return None
    n = len(values)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    sigma = variance.sqrt() if variance > 0 else Decimal(0)
    low, high = mean - k * sigma, mean + k * sigma
    if low <= value <= high:
        return None
    if sigma == 0:
        return f"differs from the constant {_text(mean)} of the last {n} results"
    return (f"beyond mean ± {k}σ of the last {n} results ({_text(low)} to {_text(high)}; "
            f"mean {_text(mean)}, σ {_text(sigma)})")
