"""Disposition rules: no Django here, tested directly."""
