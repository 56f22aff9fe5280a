"""The live side split into processes over the JetStream bus (``stratops svc <name>``):
:mod:`.market_data` publishes bars, :mod:`.execution` runs the runner on them (signals,
governance, risk, journal-first execution: one journal writer) and mirrors every journaled
event, :mod:`.state` keeps a replica journal and state from that mirror."""
