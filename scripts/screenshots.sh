#!/usr/bin/env bash
# README screenshots of the running terminal (operator, reviewer, administrator), taken from the release binary in
# demo mode under Xvfb and driven with xdotool the way a person would use the keyboard. Run it after a change to a
# screen and commit docs/screenshots/*.png. Needs: xvfb, xdotool, imagemagick (apt-get install xvfb xdotool
# imagemagick).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in Xvfb xdotool import; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install xvfb xdotool imagemagick)"; exit 2; }
done

# A debug build is enough for pictures and shares the test build's artifacts.
cargo build --locked -p madoguchi
binary=${CARGO_TARGET_DIR:-target}/debug/madoguchi
data=$(mktemp -d)
out=docs/screenshots
mkdir -p "$out"

display=:97
Xvfb "$display" -screen 0 1180x820x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
app=
cleanup() {
    [ -n "$app" ] && kill "$app" 2>/dev/null || true
    kill "$xvfb" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
export DISPLAY=$display
sleep 1

# The demo's first run generates its population; do it before the window opens.
"$binary" demo --data-dir "$data" >/dev/null

MADOGUCHI_LOG=info "$binary" terminal --data-dir "$data" --station post-1 2>"$data/terminal.log" &
app=$!
window=$(xdotool search --sync --name "madoguchi" | head -n 1)
xdotool windowmove "$window" 0 0
# No window manager runs on the display: give the window the keyboard, then type through XTEST like a keyboard.
xdotool windowfocus "$window" 2>/dev/null || true
wait_for_log() { # the line to wait for, and how many times it must have appeared
    for _ in $(seq 1 100); do
        [ "$(grep -c "$1" "$data/terminal.log" || true)" -ge "$2" ] && return 0
        sleep 0.1
    done
    echo "error: the terminal never logged '$1'"; cat "$data/terminal.log"; exit 1
}
keys() { xdotool key --delay 60 "$@" 2>/dev/null; sleep 0.3; }
typed() { xdotool type --delay 40 "$1" 2>/dev/null; sleep 0.3; }
log_in() { # login id, password, how many logins so far
    typed "$1"; keys Return; typed "$2"; keys Return Return
    wait_for_log "logged in" "$3"
    sleep 1.5
}
click() { xdotool mousemove "$1" "$2" click 1 2>/dev/null; sleep 0.3; }
shot() { import -window root "$out/$1.png"; echo "wrote $out/$1.png"; }

wait_for_log "login screen shown" 1
sleep 1
log_in operator1 demo-operator-1 1
# Search by postal code (160-0023 → 西新宿), choose the first resident, tick the driver's licence. Positions are
# the 1180×820 window's at the top-left corner of the screen.
click 367 181
typed 1600023
keys F2
sleep 1.5
click 200 344
sleep 0.8
click 190 657 # 運転免許証, in the form under the hits box (after the 業務, 異動 and 請求者 rows)
sleep 0.5
shot operator
keys F9
sleep 2
keys F12
sleep 1

log_in reviewer1 demo-reviewer-1 2
click 150 208 # the first case of the queue, under the staff fields
sleep 2.5
shot reviewer
keys F12
sleep 1

log_in admin demo-admin-pass 3
sleep 1
shot admin
