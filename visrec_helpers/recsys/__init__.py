"""Layer 5: the recommender contract and models, cold start, sessions, tags, metrics, A/B tests."""
