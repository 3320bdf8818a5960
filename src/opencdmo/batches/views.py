"""Pages of the batches app: thin, they call selectors and services."""
