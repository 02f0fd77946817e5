"""Built-in verifier kinds (entry points in pyproject.toml)."""
