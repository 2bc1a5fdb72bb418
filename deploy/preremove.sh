#!/bin/sh
set -e
if command -v systemctl >/dev/null 2>&1; then
  systemctl stop relay-server.service >/dev/null 2>&1 || true
  systemctl disable relay-server.service >/dev/null 2>&1 || true
fi
