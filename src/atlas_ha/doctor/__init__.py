"""`atlas-ha doctor`: the preflight of a server (doctor/checks.py)."""
