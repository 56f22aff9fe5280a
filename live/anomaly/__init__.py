"""Anomaly detectors of the live runner: one small module per condition, a registry that
feeds them every journaled message (:mod:`live.anomaly.registry`) and journals what they
find as ``AlertRaised`` events under the trace they are about. Alert codes:
:data:`live.anomaly.base.ALERT_CODES`."""
