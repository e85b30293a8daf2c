"""Layer 1: run-time settings (device, seeds for notebooks, cache), records of figures, plots."""
