"""Side-by-side versions of atlas-ha (SPEC 7.5; docs/versions.md): one venv per version under
ESD_DATA/bin/<version>/ installed offline from a wheel (install.py, wheels.py), the
`current` and `previous` links (links.py), and the switch with its verification and its
automatic rollback (switch.py). Sits just above ops/: it runs every other program of
atlas-ha as a separate process of the version concerned and imports none of them."""
