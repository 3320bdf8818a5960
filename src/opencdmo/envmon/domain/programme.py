"""The vocabulary of an environmental monitoring programme: what is sampled, in which room
state, how often. Models take their choices from here so rules and storage agree."""

# sample type → (label, unit of the reported value, viable?)
SAMPLE_TYPES: dict[str, tuple[str, str, bool]] = {
    "active_air": ("Active air", "CFU/m³", True),
    "settle_plate": ("Settle plate", "CFU/4 h", True),
    "contact_plate": ("Contact plate", "CFU/plate", True),
    "glove_print": ("Glove print", "CFU/glove", True),
    "particles_0_5": ("Total particles ≥0.5 µm", "particles/m³", False),
    "particles_5": ("Total particles ≥5 µm", "particles/m³", False),
}
VIABLE = frozenset(t for t, (_, _, viable) in SAMPLE_TYPES.items() if viable)
PARTICLES = frozenset(SAMPLE_TYPES) - VIABLE

STATES: dict[str, str] = {"in_operation": "In operation", "at_rest": "At rest"}

FREQUENCIES: dict[str, str] = {
    "per_shift": "Every shift",
    "daily": "Daily",
    "weekly": "Weekly",
    "per_batch": "Every batch or session",
}

# What a result is, compared with its limits.
WITHIN, ALERT, ACTION = "within", "alert", "action"
LEVELS: dict[str, str] = {WITHIN: "Within limits", ALERT: "Alert level", ACTION: "Action level"}


def choices(mapping: dict) -> list[tuple[str, str]]:
    return [(key, value[0] if isinstance(value, tuple) else value) for key, value in mapping.items()]
