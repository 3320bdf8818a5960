"""QC laboratory pages. Thin: selectors read, services write."""

# ===== methods and specifications =====
# ===== end methods and specifications =====

# ===== samples and results =====
# ===== end samples and results =====

# ===== OOS investigations =====
# ===== end OOS investigations =====

# ===== stability =====
# ===== end stability =====
