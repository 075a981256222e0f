#!/bin/sh
# wicketd package: the service's own user, then tell systemd about the units.
# Runs as Debian's postinst (configure) and RPM's %post.
set -e

if ! getent group wicket >/dev/null; then
	groupadd --system wicket
fi
if ! getent passwd wicket >/dev/null; then
	useradd --system --gid wicket --home-dir /var/lib/wicket --no-create-home \
		--shell /usr/sbin/nologin --comment "Wicket VPN server" wicket
fi
# The unit's StateDirectory= makes it too; made here so that
# `sudo -u wicket wicketd user add …` works before the first start.
install -d -o wicket -g wicket -m 0750 /var/lib/wicket

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	# An upgrade restarts what ran before; a first install starts nothing,
	# since the server wants its first admin and its URL first.
	for unit in wicketd.service wicketd-gateway.service; do
		if systemctl is-active --quiet "$unit"; then
			systemctl try-restart "$unit" >/dev/null 2>&1 || true
		fi
	done
fi

cat <<'MSG'
wicketd is installed. To start the server:
  1. Set WICKET_PUBLIC_URL (and anything else) in /etc/wicket/wicketd.env
  2. sudo systemctl enable --now wicketd
  3. printf '%s\n' "$PASSWORD" | sudo -u wicket wicketd user add admin --data-dir /var/lib/wicket --email admin@example.com --admin
A separate gateway host uses wicketd-gateway.service and /etc/wicket/wicketd-gateway.env instead.
MSG
