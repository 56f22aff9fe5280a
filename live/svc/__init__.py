"""The live side split into processes over the JetStream bus (``stratops svc <name>``):
:mod:`.market_data` publishes bars, :mod:`.execution` runs the runner on them (signals,
governance, journal-first execution: one journal writer; risk too unless it asks
:mod:`.risk`, the risk service, through :mod:`.remote_risk`) and mirrors every journaled
event, :mod:`.state` keeps a replica journal and state from that mirror."""
