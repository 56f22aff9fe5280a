#!/usr/bin/env bash
# Start PostgreSQL (127.0.0.1:5432) and NATS with JetStream (127.0.0.1:4222) when they do not
# answer, with the machine's own start commands; a server that cannot be started is reported
# and its tests fail with a clear connection error (never skipped silently).
set -uo pipefail
up() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }
if ! up 5432 && command -v pg_ctlcluster >/dev/null; then
    echo "ci: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
if ! up 4222 && [ -x /usr/sbin/nats-server ]; then
    echo "ci: starting NATS JetStream"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
fi
for port in 5432 4222; do
    for _ in $(seq 1 50); do up "$port" && break; sleep 0.2; done
    up "$port" && echo "ci: 127.0.0.1:$port answers" || echo "ci: 127.0.0.1:$port is DOWN" >&2
done
exit 0
