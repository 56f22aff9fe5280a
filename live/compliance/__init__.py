"""Compliance controls on our own order flow: order-to-trade ratio, self-trade prevention and
SEBI's algo framework (configured by the reviewed ``compliance.yaml``)."""
