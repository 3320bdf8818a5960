"""The QC records' lifecycles, each on the one workflow mechanism (core.workflows)."""

# ===== methods and specifications =====
# ===== end methods and specifications =====

# ===== samples and results =====
# ===== end samples and results =====

# ===== OOS investigations =====
# ===== end OOS investigations =====
