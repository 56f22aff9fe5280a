"""Live market data: Kite ticker ticks -> 1-minute bars for the runner, the stale-feed watch,
the start-up catch-up from historical candles, and the tick recorder and its replay."""
