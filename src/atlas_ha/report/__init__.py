"""What people see (SPEC 7.4): the status model, the web page, the console view, alerts and
metrics. Reserved: started by the daemon, reading what the Synchronizer and the Verifier
record (docs/architecture.md)."""
