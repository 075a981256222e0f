#!/bin/sh
# wicketd package: after removal. Runs as Debian's postrm and RPM's %postun.
# Purging (deb only) deletes the data directory, as purge promises; the
# user wicket stays, as Debian policy asks, so that files it may own
# elsewhere keep a name.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
	rm -rf /var/lib/wicket
	rmdir /etc/wicket 2>/dev/null || true
fi
