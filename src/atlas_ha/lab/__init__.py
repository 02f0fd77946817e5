"""The multi-server lab: network namespaces, real sshd, disks that move between servers."""
