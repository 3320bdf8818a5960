"""Pure rules of the documents app: no Django."""
