"""The long-running Sentry service (SPEC 5.10, 7.1).

suspend.py   suspend and resume the Synchronizer (a flag on the Unbound Data)
loop.py      the daemon loop: each turn decides one thing and says it in one sentence
control.py   start | stop | restart | status of the daemon, by its PID file
units/       systemd units: early Role/Identity Install, and the daemon
"""
