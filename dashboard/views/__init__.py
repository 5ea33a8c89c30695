"""Dashboard views, one module per area (STYLE.md: no giant views module)."""
