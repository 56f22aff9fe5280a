"""Alert delivery: the journal's alerts (and playbook steps, and out-of-process pages) sent
to people over webhooks (HMAC-SHA256 signed JSON) and e-mail (SMTP), deduplicated,
escalated when nobody acknowledges them, from a durable retry queue that survives a restart.

:mod:`~live.alerts.config` the channels and policy, :mod:`~live.alerts.outbox` the SQLite
queue, :mod:`~live.alerts.channels` the senders, :mod:`~live.alerts.dispatcher` the
background worker, :mod:`~live.alerts.page` the one call a watchdog makes."""
