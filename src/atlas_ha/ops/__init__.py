"""Operations (SPEC 7.2, 7.3): the run wrapper and its logs, the start handler, the crash
handler and its signature store. Below the Synchronizer: it wraps every program and imports
none of them."""
