"""Built-in verifier kinds, one module each, registered as entry points "atlas_ha.verifiers"."""
