#!/bin/sh
# wicket package: let the client bring a kernel WireGuard interface up
# without running as root. CAP_NET_ADMIN is the only privilege it needs
# (to create the TUN device and set its addresses and routes over netlink).
# Runs as Debian's postinst and RPM's %post.
set -e
if command -v setcap >/dev/null 2>&1; then
	if ! setcap cap_net_admin+ep /usr/bin/wicket; then
		echo "wicket: could not grant CAP_NET_ADMIN (the file system may not support capabilities);" >&2
		echo "wicket: the system tunnel needs it, the userspace tunnel (Settings) does not." >&2
	fi
else
	echo "wicket: setcap is missing, so the system tunnel needs root; the userspace tunnel (Settings) works without." >&2
fi
# Menus and icon themes pick up the new files.
if command -v update-desktop-database >/dev/null 2>&1; then
	update-desktop-database -q /usr/share/applications || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
	gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
fi
