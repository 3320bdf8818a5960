"""Pure rules of the compliance kernel: no Django import (checked by import-linter)."""
