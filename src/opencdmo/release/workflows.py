"""Disposition: see models.py."""
