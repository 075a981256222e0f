#!/bin/sh
# wicket package: after removal, refresh menus and icon caches. The
# capability left with the binary. Runs as Debian's postrm and RPM's %postun.
set -e
if command -v update-desktop-database >/dev/null 2>&1; then
	update-desktop-database -q /usr/share/applications || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
	gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
fi
