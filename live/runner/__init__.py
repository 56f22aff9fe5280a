"""The live runner: feed -> strategy signals -> decisions -> governance -> risk -> execution,
every step journaled; state rebuilt from the journal on every start."""
