"""Pages of the quality app. Thin: parse input, call a service or selector, render."""
