#!/bin/sh
# Measures the desktop client's start-to-first-window time and idle RSS:
# a real wicketd (netstack gateway) on loopback, a device enrolled with the
# real `wicket enroll` into gnome-keyring (under a private D-Bus session),
# then `wicket` with no arguments under Xvfb, RUNS times. "Start to window"
# is from just before exec to the window being mapped (polled with xdotool
# every 5 ms); RSS and PSS are read from /proc after 20 s of idling.
#
# Needs: a display (Xvfb :99 -screen 0 1280x800x24), xdotool, imagemagick,
# jq, curl, dbus, gnome-keyring. Usage: client/internal/ui/measure.sh
# (GOFLAGS=-tags=no_emoji measures the build without the emoji font).
set -eu
REPO=${REPO:-/work/main}
W=${W:-/tmp/wm}
RUNS=${RUNS:-5}
PORT=${PORT:-18443}
export DISPLAY=${DISPLAY:-:99} LANG=C.UTF-8
rm -rf "$W/data" "$W/cfg"; mkdir -p "$W"
(cd "$REPO" && go build -o "$W/wicketd" ./server && go build -o "$W/wicket" ./client)
printf 'admin-pass-123\n' | "$W/wicketd" user add admin --data-dir "$W/data" --email admin@example.com --admin >/dev/null
printf 'alice-pass-123\n' | "$W/wicketd" user add alice --data-dir "$W/data" --email alice@example.com >/dev/null
"$W/wicketd" serve --data-dir "$W/data" --listen 127.0.0.1:$PORT --name "Example VPN" --log-level warn &
SRV=$!
trap 'kill $SRV 2>/dev/null' EXIT
until curl -sk https://127.0.0.1:$PORT/healthz >/dev/null; do sleep 0.1; done
api() { curl -sk -X POST "https://127.0.0.1:$PORT/wicket.v1.$1" -H 'Content-Type: application/json' ${3:+-H "Authorization: Bearer $3"} -d "$2"; }
ADMIN=$(api AccountService/Login '{"username":"admin","password":"admin-pass-123"}' | jq -r .token)
api AdminService/CreateLocation '{"location":{"name":"Office","address":"10.10.0.1/24","listenPort":51900,"endpoint":"127.0.0.1:51900","allowedIps":["10.10.0.0/24"],"mfaMode":"LOCATION_MFA_MODE_INTERNAL","peerDisconnectThresholdSeconds":300}}' "$ADMIN" >/dev/null
api AdminService/CreateLocation '{"location":{"name":"Lab","address":"10.20.0.1/24","listenPort":51901,"endpoint":"127.0.0.1:51901","allowedIps":["10.20.0.0/24"],"mfaMode":"LOCATION_MFA_MODE_DISABLED"}}' "$ADMIN" >/dev/null
ALICE=$(api AccountService/Login '{"username":"alice","password":"alice-pass-123"}' | jq -r .token)
CODE=$(api AccountService/CreateEnrollmentToken '{"deviceName":"laptop"}' "$ALICE" | jq -r .enrollmentCode)

dbus-run-session -- sh -c '
  set -eu
  printf kpw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  "$0/wicket" enroll "$1" --config-dir "$0/cfg" --name laptop
  for i in $(seq 1 "$2"); do
    t0=$(date +%s%N)
    "$0/wicket" --config-dir "$0/cfg" 2>"$0/wicket.log" &
    pid=$!
    until xdotool search --onlyvisible --name "^Wicket\$" >/dev/null 2>&1; do sleep 0.005; done
    t1=$(date +%s%N)
    sleep 20
    rss=$(awk "/^VmRSS/ {print \$2}" /proc/$pid/status)
    pss=$(awk "/^Pss:/ {print \$2}" /proc/$pid/smaps_rollup)
    echo "run $i: start to window $(( (t1 - t0) / 1000000 )) ms; after 20 s idle RSS $((rss / 1024)) MB, PSS $((pss / 1024)) MB"
    kill $pid; wait $pid 2>/dev/null || true
  done
' "$W" "$CODE" "$RUNS"
