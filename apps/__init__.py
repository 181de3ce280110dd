"""Applications built on beamish's public API."""
