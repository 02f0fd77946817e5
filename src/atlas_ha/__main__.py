"""`python -m atlas_ha` = the `atlas-ha` command."""

from atlas_ha.cli.main import main

raise SystemExit(main())
