"""Surveillance of our own order flow (abuse detectors), the signed daily compliance report
and the retention archive."""
