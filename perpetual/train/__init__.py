"""Training the embedded models on the procedural world (``perpetual train``)."""
