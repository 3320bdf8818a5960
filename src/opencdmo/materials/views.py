"""Pages of the materials app. Thin: parse input, call a service or selector, render."""
