"""Pages of the processes app: thin, they call selectors and services."""
