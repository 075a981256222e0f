#!/bin/sh
# Runs the keyring tests against a real Secret Service: gnome-keyring in a
# private D-Bus session, unlocked with a throwaway password. Needs the Debian
# packages dbus and gnome-keyring. Extra arguments go to go test.
#
#   sh client/internal/secrets/testdata/run-with-keyring.sh -count=1
set -eu
cd "$(dirname "$0")/../../../.."
for cmd in dbus-run-session gnome-keyring-daemon; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "run-with-keyring.sh: $cmd is missing; apt-get install -y dbus gnome-keyring" >&2
		exit 1
	fi
done
# A throwaway keyring directory, so the test never touches a real one. Only
# XDG_DATA_HOME moves: HOME stays, and with it Go's build and module caches.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME="$tmp/data"
mkdir -p "$XDG_DATA_HOME"
export WICKET_REQUIRE_KEYRING=1
exec dbus-run-session -- sh -c '
	eval "$(printf wicket-ci | gnome-keyring-daemon --unlock --components=secrets)"
	export GNOME_KEYRING_CONTROL
	go test "$@" ./client/internal/secrets/
' run-with-keyring "$@"
