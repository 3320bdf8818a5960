"""Pages of the facilities app. Thin: parse input, call a service or selector, render."""
