"""Surveillance of our own order flow (abuse detectors), the signed daily compliance report
and the retention archive. The rules of ``compliance.yaml`` (OTR, self-trade, SEBI's algo
framework) are :mod:`live.compliance_rules`."""
