"""Smart order routing: several venues (a broker and account each, with their own limits and
liquidity), a rule that chooses or splits between them, and a router that is itself a
:class:`~live.broker.Broker`, so the executor uses it unchanged."""
