"""atlas-ha: the ATLAS Sentry (Synchronizer and Verifier) for small-business high availability."""

__version__ = "0.1.0"
