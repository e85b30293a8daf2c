"""Layer 3: networks, training loops, encoders and image features, and the vision tasks."""
