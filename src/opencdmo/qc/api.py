"""The QC laboratory over HTTP. Thin: selectors and services do the work."""

from ninja import Router

router = Router(tags=["QC laboratory"])

# ===== methods and specifications =====
# ===== end methods and specifications =====

# ===== samples and results =====
# ===== end samples and results =====

# ===== OOS investigations =====
# ===== end OOS investigations =====

# ===== stability =====
# ===== end stability =====
