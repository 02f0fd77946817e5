"""Alert channels: plugins of the family `atlas_ha.alert_channels` (plugins.py)."""
