"""OpenCDMO: one GMP operations platform for cell and gene therapy contract manufacturers."""

__version__ = "0.1.0"
