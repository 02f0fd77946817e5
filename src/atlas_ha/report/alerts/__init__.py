"""Alerts (SPEC 7.4, issue 11 item 4): rules on the synced configuration, a pure engine, its
state on the Unbound Data, and channels as plugins (docs/alerts.md).

    observe.py   Observations from the Verifier results, the last SyncCycle and suspension
    rules.py     the rules file (TOML): parsed, validated, the last good rules kept
    engine.py    pure: (rules, state, observations, now) -> (state, notifications)
    flapping.py  Nagios' weighted percent state change
    store.py     the engine state and delivery record on SID_DATA, written atomically
    deliver.py   sending through the channels: record, backoff, a failed channel reported
    round.py     one alert round of the daemon (and the CLI's list, silence, test)
"""
