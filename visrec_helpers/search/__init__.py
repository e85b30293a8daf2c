"""Layer 4: nearest-neighbour indexes, vector compression, labelled and keyword retrieval."""
