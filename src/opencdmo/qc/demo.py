"""Demo laboratory: methods, specifications, samples, results (one OOS), a stability study.
Built through the services (called by `opencdmo seed-demo`)."""
