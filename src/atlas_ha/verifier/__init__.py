"""The Verifier (SPEC 8): service plugins with SetUp and Verify modes, profiles, results.

profile.py    Status, Measurement, Profile (SPEC 8.4) and threshold judgement
services.py   the services file (SPEC 6): which services, which verifier kind, how often
api.py        the plugin contract (Verifier, Context, Target, SetUpResult) and discovery
              through the Python entry point group "atlas_ha.verifiers"
"""
