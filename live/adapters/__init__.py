"""Broker adapters, one package per broker: ``paper`` (simulated exchange), ``kite``."""
