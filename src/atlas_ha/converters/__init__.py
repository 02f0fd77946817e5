"""atlas-ha."""
