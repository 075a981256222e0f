#!/bin/sh
# wicketd package: stop the services before their binary goes. Runs as
# Debian's prerm and RPM's %preun; an upgrade (deb: "upgrade", rpm: 1)
# leaves them running for postinstall to restart.
set -e
case "$1" in
upgrade | 1) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	for unit in wicketd.service wicketd-gateway.service; do
		systemctl disable --now "$unit" >/dev/null 2>&1 || true
	done
fi
