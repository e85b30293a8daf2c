"""Layer 6: the real-time serving path, notebook widgets, Spark jobs and the capacity plan."""
