"""Pure rules of the training app: no Django."""
