"""Environmental monitoring rules: Annex 1 limits, alert and action levels, Nelson rules,
ISO 14644-1 classification. No Django here, tested directly."""
