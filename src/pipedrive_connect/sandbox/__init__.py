"""Local Pipedrive-compatible API server (test double with a strict contract)."""
