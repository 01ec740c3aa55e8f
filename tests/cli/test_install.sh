#!/bin/sh
# test_install.sh: `make install` / `make uninstall`, the systemd units, the
# sysusers/tmpfiles snippets, the installed examples and the man pages.
#
# - install into a temporary DESTDIR with PREFIX=/usr: exactly the expected
#   files, modes, units with their paths substituted; uninstall leaves
#   nothing behind;
# - install with PREFIX in a temporary folder (so the units' ExecStart
#   exists): `systemd-analyze verify` is silent on both units, and
#   `systemd-analyze security --offline` reports the exposure (printed);
# - sysusers.d creates user and group cangate, then tmpfiles.d creates
#   /run/cangate and /var/lib/cangate/sessions owned by them (in a --root);
# - every installed example config passes `cangated -n`, and the installed
#   demo checks to the installed expected verdicts;
# - each man page renders with `groff -man -ww -z` and `man -l` without a
#   warning (and `mandoc -T lint` when installed).
#
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; failed=$((failed + 1)); }
note() { echo "# $*"; }

# the make of this test must not inherit the caller's job server or goals
unset MAKEFLAGS MFLAGS MAKELEVEL
mk() { make -s --no-print-directory -C "$ROOT" BUILD="$BUILD" "$@"; }

# --------------------------------------------- DESTDIR install, file list
dest=$tmp/dest
if mk install PREFIX=/usr DESTDIR="$dest" > "$tmp/install.log" 2>&1; then
	ok "make install PREFIX=/usr DESTDIR=... succeeds"
else
	not_ok "make install failed:"
	tail -5 "$tmp/install.log" | sed 's/^/# /'
fi
cat > "$tmp/want.txt" <<'EOF'
644 /usr/lib/systemd/system/cangated.service
644 /usr/lib/systemd/system/cangated@.service
644 /usr/lib/sysusers.d/cangate.conf
644 /usr/lib/tmpfiles.d/cangate.conf
644 /usr/share/cangate/examples/demo.ini
644 /usr/share/cangate/examples/demo-translate.ini
644 /usr/share/cangate/rigs/demo-rig.dbc
644 /usr/share/cangate/examples/rig-example.ini
644 /usr/share/cangate/examples/vcan-example.ini
644 /usr/share/cangate/rules/cmvss-101.ini
644 /usr/share/cangate/rules/cmvss-105-135.ini
644 /usr/share/cangate/rules/cmvss-108.ini
644 /usr/share/cangate/rules/cmvss-111.ini
644 /usr/share/cangate/rules/cmvss-114.ini
644 /usr/share/cangate/rules/cmvss-126.ini
644 /usr/share/cangate/rules/cmvss-141-fmvss.ini
644 /usr/share/cangate/rules/cmvss-141-unr138.ini
644 /usr/share/cangate/rules/cmvss-141.ini
644 /usr/share/cangate/rules/cmvss-305.ini
644 /usr/share/cangate/rules/fmvss138-tpms.ini
644 /usr/share/cangate/rules/unr39-speedometer.ini
644 /usr/share/cangate/vehicles/demo-drive.log
644 /usr/share/cangate/vehicles/demo-ev.dbc
644 /usr/share/cangate/vehicles/demo-ev.ini
644 /usr/share/cangate/vehicles/demo-expected-verdicts.txt
644 /usr/share/man/man1/cangate.1
644 /usr/share/man/man5/cangate.conf.5
644 /usr/share/man/man8/cangated.8
755 /usr/bin/cangate
755 /usr/sbin/cangated
EOF
(cd "$dest" 2>/dev/null && find . ! -type d -printf '%m /%P\n') | LC_ALL=C sort > "$tmp/got.txt"
LC_ALL=C sort -o "$tmp/want.txt" "$tmp/want.txt"
if cmp -s "$tmp/want.txt" "$tmp/got.txt"; then
	ok "installed files and modes are exactly the expected $(wc -l < "$tmp/want.txt")"
else
	not_ok "installed files differ (< expected, > installed):"
	diff "$tmp/want.txt" "$tmp/got.txt" | sed 's/^/# /'
fi
units=$dest/usr/lib/systemd/system
if grep -q '@[A-Z]*@' "$units"/cangated.service "$units"/cangated@.service; then
	not_ok "units keep @...@ placeholders after install"
elif grep -qx 'ExecStart=/usr/sbin/cangated -c /etc/cangate/cangated.ini' "$units/cangated.service" &&
     grep -qx 'ExecStart=/usr/sbin/cangated -c /etc/cangate/%i.ini' "$units/cangated@.service"; then
	ok "units have SBINDIR and SYSCONFDIR substituted"
else
	not_ok "units' ExecStart is not /usr/sbin/cangated -c /etc/cangate/...ini"
fi
for k in Type=notify NotifyAccess=main WatchdogSec=10s Restart=on-failure \
	User=cangate NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
	PrivateTmp=yes 'RestrictAddressFamilies=AF_CAN AF_UNIX AF_NETLINK' \
	CapabilityBoundingSet=CAP_NET_ADMIN AmbientCapabilities=CAP_NET_ADMIN \
	'ReadWritePaths=/var/lib/cangate /run/cangate' \
	SystemCallFilter=@system-service SystemCallArchitectures=native \
	UMask=0007 'ExecReload=/bin/kill -HUP $MAINPID'; do
	for u in cangated.service cangated@.service; do
		grep -qxF "$k" "$units/$u" || { not_ok "$u lacks $k"; continue 3; }
	done
done
ok "both units carry the required service and hardening settings"
if grep -q '^/usr/share/cangate/' "$dest/usr/share/cangate/examples/rig-example.ini" ||
   ! grep -q '^include = /usr/share/cangate/rules/cmvss-101.ini$' \
	"$dest/usr/share/cangate/examples/demo.ini"; then
	not_ok "installed demo.ini does not point at the installed rule packs"
else
	ok "installed examples point at the installed packs and vehicle"
fi

if mk uninstall PREFIX=/usr DESTDIR="$dest" > "$tmp/uninstall.log" 2>&1; then
	left=$(cd "$dest" 2>/dev/null && find . -mindepth 1 | head -5)
	if [ -z "$left" ]; then
		ok "make uninstall removes every file and the empty folders"
	else
		not_ok "left after uninstall: $left"
	fi
else
	not_ok "make uninstall failed:"
	tail -5 "$tmp/uninstall.log" | sed 's/^/# /'
fi
# uninstall must not remove what is not ours
mkdir -p "$dest/usr/share/man/man1" && touch "$dest/usr/share/man/man1/other.1"
mk uninstall PREFIX=/usr DESTDIR="$dest" > /dev/null 2>&1
if [ -f "$dest/usr/share/man/man1/other.1" ]; then
	ok "uninstall leaves other files and their folders alone"
else
	not_ok "uninstall removed a file it did not install"
fi

# --------------------------- PREFIX install: units verify, examples run
pfx=$tmp/pfx
mk install PREFIX="$pfx" > "$tmp/install2.log" 2>&1 ||
	not_ok "make install PREFIX=$pfx failed"
if command -v systemd-analyze > /dev/null 2>&1; then
	for u in cangated.service cangated@.service; do
		# verify exits 0 even on unknown keys: any output is a failure
		out=$(cd "$tmp" && MANPATH=$pfx/share/man systemd-analyze verify \
			"$pfx/lib/systemd/system/$u" 2>&1)
		rc=$?
		if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
			ok "systemd-analyze verify $u: clean"
		else
			not_ok "systemd-analyze verify $u (exit $rc):"
			echo "$out" | sed 's/^/# /'
		fi
	done
	if out=$(cd "$tmp" && MANPATH=$pfx/share/man systemd-analyze security \
		--offline=yes --threshold=30 "$pfx/lib/systemd/system/cangated.service" 2>&1); then
		exposure=$(echo "$out" | grep 'Overall exposure level' | sed 's/.*: //')
		note "systemd-analyze security --offline cangated.service: $exposure"
		case "$exposure" in
		[0-2].*) ok "security exposure $exposure (at most 2.x, 'OK')" ;;
		*) not_ok "security exposure '$exposure' above 2.x" ;;
		esac
	else
		note "systemd-analyze security --offline is not supported here: $(echo "$out" | tail -1)"
	fi
	if [ "$(id -u)" -ne 0 ]; then
		note "not root: sysusers/tmpfiles snippets not applied (chown needs root)"
	elif command -v systemd-sysusers > /dev/null 2>&1 &&
	   command -v systemd-tmpfiles > /dev/null 2>&1; then
		sr=$tmp/sysroot
		mkdir -p "$sr/etc"
		if systemd-sysusers --root="$sr" "$pfx/lib/sysusers.d/cangate.conf" > /dev/null 2>&1 &&
		   grep -q '^cangate:x:[0-9]*:[0-9]*:.*:/var/lib/cangate:' "$sr/etc/passwd" &&
		   grep -q '^cangate:x:' "$sr/etc/group" &&
		   systemd-tmpfiles --root="$sr" --create "$pfx/lib/tmpfiles.d/cangate.conf" 2> "$tmp/tmpfiles.err" &&
		   [ ! -s "$tmp/tmpfiles.err" ]; then
			uid=$(grep '^cangate:' "$sr/etc/passwd" | cut -d: -f3)
			own=$(stat -c '%u %a' "$sr/run/cangate" "$sr/var/lib/cangate" \
				"$sr/var/lib/cangate/sessions" | sort -u)
			if [ "$own" = "$uid 750" ]; then
				ok "sysusers creates cangate; tmpfiles makes its folders 0750 cangate"
			else
				not_ok "tmpfiles folders: '$own', want '$uid 750'"
			fi
		else
			not_ok "systemd-sysusers/systemd-tmpfiles on the snippets failed"
			sed 's/^/# /' "$tmp/tmpfiles.err" 2>/dev/null
		fi
	fi
else
	note "systemd-analyze not installed: units not verified here"
fi
for e in demo rig-example vcan-example; do
	out=$("$pfx/sbin/cangated" -n -c "$pfx/share/cangate/examples/$e.ini" 2>&1)
	if [ "$out" = "configuration OK" ]; then
		ok "installed examples/$e.ini passes cangated -n"
	else
		not_ok "installed examples/$e.ini: $out"
	fi
done
"$pfx/bin/cangate" check -c "$pfx/share/cangate/examples/demo.ini" \
	"$pfx/share/cangate/vehicles/demo-drive.log" > /dev/null 2> "$tmp/table.txt"
rc=$?
awk '/^RULE /{t=1; next} / rules: /{t=0} t && NF >= 3 {print $1, $3}' \
	"$tmp/table.txt" > "$tmp/verdicts.txt"
grep -v '^#' "$pfx/share/cangate/vehicles/demo-expected-verdicts.txt" > "$tmp/expected.txt"
if [ "$rc" -eq 1 ] && [ -s "$tmp/verdicts.txt" ] &&
   cmp -s "$tmp/verdicts.txt" "$tmp/expected.txt"; then
	ok "the installed demo checks to the installed expected verdicts"
else
	not_ok "installed demo: exit $rc, verdicts differ from the installed expectation"
fi

# ------------------------------------------------------------ man pages
for m in man/cangate.1 man/cangate.conf.5 man/cangated.8; do
	w=$(groff -man -ww -z "$m" 2>&1)
	if [ -n "$w" ]; then
		not_ok "groff -man -ww $m: $w"
		continue
	fi
	out=$(MANWIDTH=80 man --warnings -l "$m" 2>&1 > "$tmp/man.txt")
	if [ -n "$out" ] || ! grep -q 'NAME' "$tmp/man.txt"; then
		not_ok "man -l $m: ${out:-no NAME section rendered}"
		continue
	fi
	if command -v mandoc > /dev/null 2>&1 &&
	   ! mandoc -T lint -W warning "$m" > "$tmp/lint.txt" 2>&1; then
		not_ok "mandoc -T lint $m: $(head -3 "$tmp/lint.txt")"
		continue
	fi
	ok "$m renders without warnings"
done
# cangate(1) names every subcommand, cangate.conf(5) every config key
for c in decode check verify report export keygen 'dbc lint' 'dbc show' \
	status mark session; do
	grep -q "^\.B cangate $c\|^\.SS .*$c" man/cangate.1 ||
		{ not_ok "cangate.1 does not document '$c'"; continue 2; }
done
ok "cangate.1 documents every subcommand"
missing=
for k in $(grep -o '{ *"[a-z_]*", *\(true\|false\)' daemon/core/config.c |
	sed 's/{ *"\([a-z_]*\)".*/\1/' | sort -u) source stale_ms ref kind description severity \
	when expect debounce_ms settle_ms trigger within_ms clock allowed \
	message period_ms tol_pct max_age_ms max_per_s set clear min max \
	bus send period counter checksum stale substitute; do
	grep -q "^\.BR* $k\b\|^\.BR* .*\b$k\b" man/cangate.conf.5 || missing="$missing $k"
done
if [ -z "$missing" ]; then
	ok "cangate.conf.5 documents every section key"
else
	not_ok "cangate.conf.5 lacks keys:$missing"
fi

echo "test_install: $n checks, $failed failed"
[ "$failed" -eq 0 ]
