"""The QC laboratory's writes. Every function takes the acting user first, checks permission and
the laboratory's rules, and writes its audit event in the same transaction."""

# ===== methods and specifications =====
# ===== end methods and specifications =====

# ===== samples and results =====
# ===== end samples and results =====

# ===== OOS investigations =====
# ===== end OOS investigations =====

# ===== stability =====
# ===== end stability =====
