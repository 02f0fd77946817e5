"""Linux md RAID: parsers of /proc/mdstat, the md sysfs attributes and `mdadm --export`
output, and the third-disk rotation (SPEC 7.6, docs/backup.md)."""
