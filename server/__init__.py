"""openproctor.server: see docs/ (this package is built out in its own issue)."""
