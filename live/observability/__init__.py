"""Observability of the live side: Prometheus metrics and OpenTelemetry spans derived from
the journaled events, a trade's timeline, the heartbeat and the dead-man's watchdog."""
