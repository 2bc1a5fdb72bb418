#!/bin/sh
set -e
if ! getent passwd hookctl >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/hookctl-relay --no-create-home --shell /usr/sbin/nologin hookctl || true
fi
mkdir -p /var/lib/hookctl-relay
chown hookctl:hookctl /var/lib/hookctl-relay
chmod 0750 /var/lib/hookctl-relay
if command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
