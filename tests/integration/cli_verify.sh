#!/usr/bin/env bash
# `loafre verify SRC DEST`: real trees built with cp/ln/setfattr/truncate;
# the replica made with `cp -a` and with `rsync -aHAX`. Identical trees:
# exit 0, nothing printed, and `diff -r` and `rsync -aHAX --dry-run -i`
# agree there is nothing to do. Then one mutation of the replica at a time:
# loafre prints exactly the expected line and exits 1, and diff -r / rsync
# see the same entry. Bad input: exit 2 with one line. Needs root (chown).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (chown, trusted xattrs)"; exit 77; }

export TZ=UTC
S=$T/src
D=$T/dst
V() { "$LOAFRE" verify "$@"; }

# expect_diff EXPECTED-STDOUT ARGS...: verify exits 1 and prints exactly that.
expect_diff() {
	local want=$1 rc=0
	shift
	V "$S" "$D" "$@" >"$T/vout" 2>"$T/verr" || rc=$?
	[ "$rc" -eq 1 ] || fail "verify $* exited $rc (expected 1): $(cat "$T/vout" "$T/verr")"
	[ "$(cat "$T/vout")" = "$want" ] || fail "verify $* printed:
$(cat "$T/vout")
expected:
$want"
	grep -q "^loafre verify: [0-9]* entries compared, [0-9]* differences, 0 errors$" "$T/verr" ||
		fail "verify summary: $(cat "$T/verr")"
}
expect_same() {
	local rc=0
	V "$S" "$D" "$@" >"$T/vout" 2>"$T/verr" || rc=$?
	[ "$rc" -eq 0 ] || fail "verify $* exited $rc: $(cat "$T/vout" "$T/verr")"
	[ ! -s "$T/vout" ] || fail "verify $* printed: $(cat "$T/vout")"
}
# rsync's itemized view of what it would change (-c: by checksum).
rs() { rsync -aHAX --dry-run -i "$@" "$S/" "$D/" | grep -v '^\.d\.\.t' || true; }
fresh() { rm -rf "$D"; cp -a "$S" "$D"; }
# restore DIR: a destination directory's times back to the source's.
restore() { touch -h -r "$S/$1" "$D/$1"; }

# ---- the source tree -------------------------------------------------------
mkdir -p "$S/docs/deep/er" "$S/bin" "$S/empty"
printf 'hello world\n' >"$S/docs/readme"
printf 'some notes\n' >"$S/docs/notes"
setfattr -n user.color -v blue "$S/docs/notes"
printf '0123456789' >"$S/docs/ten"
head -c 300000 /dev/urandom >"$S/bin/blob"
truncate -s 5M "$S/sparse"
printf 'data' | dd of="$S/sparse" bs=1 seek=1048576 conv=notrunc status=none
ln "$S/docs/readme" "$S/bin/readme.hl"
ln -s ../docs/readme "$S/bin/link"
ln -s nowhere "$S/dangling"
setfattr -n user.color -v blue "$S/docs/readme"
setfattr -n user.dir -v yes "$S/docs"
chown 1234:5678 "$S/bin/blob"
chmod 0750 "$S/bin"
chmod 04711 "$S/docs/ten"
printf 'deep\n' >"$S/docs/deep/er/file"
# Times in the past (rsync leaves the times of entries it has just made
# alone when they are within the current second).
find "$S" -exec touch -h -d '2021-03-04 05:06:07.891011121' {} +
touch -d '2020-02-02 02:02:02.123456789' "$S/docs/deep/er"
touch -h -d '2019-01-01 00:00:00.5' "$S/bin/link"

# ---- identical: cp -a and rsync -aHAX replicas ------------------------------
fresh
expect_same --checksum
out=$(diff -r --no-dereference "$S" "$D") || fail "diff -r differs on the cp -a copy: $out"
[ -z "$(rs)" ] || fail "rsync sees differences on the cp -a copy: $(rs)"
rm -rf "$D"
mkdir "$D"
rsync -aHAX "$S/" "$D/"
expect_same --checksum
V "$S" "$D" --checksum 2>"$T/verr" >/dev/null
grep -q "^loafre verify: 14 entries compared, 0 differences, 0 errors$" "$T/verr" ||
	fail "summary: $(cat "$T/verr")"

# ---- one mutation at a time --------------------------------------------------
# content: same size and mtime — only --checksum sees it (as rsync -c)
fresh
printf 'SOME notes\n' >"$T/x"
cp "$T/x" "$D/docs/notes"
touch -r "$S/docs/notes" "$D/docs/notes"
expect_same
[ -z "$(rs)" ] || fail "rsync (no -c) saw the content change"
expect_diff "content: docs/notes" --checksum
rs -c | grep -q '^>fc.* docs/notes$' || fail "rsync -c missed docs/notes: $(rs -c)"
out=$(diff -r --no-dereference "$S" "$D" || true)
grep -q "^diff -r --no-dereference $S/docs/notes $D/docs/notes$" <<<"$out" || fail "diff -r missed docs/notes: $out"
# a hard-linked file: both names differ (one inode)
fresh
printf 'HELLO world\n' >"$T/x"
cp "$T/x" "$D/docs/readme"
touch -r "$S/docs/readme" "$D/docs/readme"
expect_diff "content: bin/readme.hl
content: docs/readme" --checksum
rs -c | grep -q '^>fc.*readme' || fail "rsync -c missed readme: $(rs -c)"

# mode
fresh
chmod 0600 "$D/docs/notes"
expect_diff "mode: docs/notes 0644 != 0600"
rs | grep -q '^\.f\.\.\.p.* docs/notes$' || fail "rsync missed the mode: $(rs)"

# owner, and --uid-map / --gid-map
fresh
chown 4321:8765 "$D/bin/blob"
expect_diff "owner: bin/blob 1234:5678 != 4321:8765"
rs | grep -q '^\.f\.\.\.\.og.* bin/blob$' || fail "rsync missed the owner: $(rs)"
expect_same --uid-map 1234:4321 --gid-map 5678:8765
expect_diff "owner: bin/blob 4321:5678 != 4321:8765" --uid-map 1234:4321

# xattr
fresh
setfattr -n user.color -v red "$D/docs/notes"
expect_diff "xattr: docs/notes user.color differs"
rs | grep -q '^\.f.*x.* docs/notes$' || fail "rsync missed the xattr: $(rs)"
setfattr -x user.color "$D/docs/notes"
expect_diff "xattr: docs/notes user.color missing"
setfattr -n user.color -v blue "$D/docs/notes"
setfattr -n user.more -v 1 "$D/docs"
expect_diff "xattr: docs user.more extra"
expect_same --no-xattrs

# size (mtime kept)
fresh
truncate -s 12 "$D/docs/ten"
chmod 04711 "$D/docs/ten"
touch -r "$S/docs/ten" "$D/docs/ten"
expect_diff "size: docs/ten 10 != 12"
rs | grep -q '^>f\.s.* docs/ten$' || fail "rsync missed the size: $(rs)"

# mtime (ns), of a symlink too
fresh
touch -h -d '2019-01-01 00:00:00.6' "$D/bin/link"
expect_diff "mtime: bin/link 1546300800.500000000 != 1546300800.600000000"
# (rsync -i does not report a symlink's time: nothing to compare with)
expect_same --no-times

# symlink target
fresh
ln -sfn elsewhere "$D/dangling"
touch -h -r "$S/dangling" "$D/dangling"
restore .
expect_diff "symlink: dangling nowhere != elsewhere"
rs | grep -q 'dangling -> nowhere' || fail "rsync missed the symlink: $(rs)"

# missing, extra, type
fresh
rm "$D/docs/deep/er/file"
mkdir "$D/docs/deep/er/new"
rm -r "$D/empty"
printf 'x' >"$D/empty"
restore docs/deep/er
restore .
expect_diff "missing: docs/deep/er/file
extra: docs/deep/er/new
type: empty directory != file"
out=$(diff -r --no-dereference "$S" "$D" || true)
grep -q "Only in $S/docs/deep/er: file" <<<"$out" || fail "diff -r: $out"
grep -q "Only in $D/docs/deep/er: new" <<<"$out" || fail "diff -r: $out"
rsync -aHAX --delete --dry-run -i "$S/" "$D/" | grep -q '^\*deleting *docs/deep/er/new/$' ||
	fail "rsync --delete missed the extra directory"
expect_same --exclude-glob new --exclude-glob empty --exclude-glob 'docs/deep/er/f*'

# hard links: split at the destination
fresh
cp -a "$D/bin/readme.hl" "$T/copy"
mv "$T/copy" "$D/bin/readme.hl"
restore bin
expect_diff "links: bin/readme.hl and docs/readme are not one file at the destination"
rs | grep -q '^hf.*readme' || fail "rsync -H missed the link: $(rs)"

# json
fresh
chmod 0600 "$D/docs/notes"
V "$S" "$D" --json >"$T/vout" 2>/dev/null && fail "verify --json exited 0"
[ "$(head -1 "$T/vout")" = '{"kind":"mode","path":"docs/notes","src":"0644","dst":"0600"}' ] ||
	fail "json: $(cat "$T/vout")"
grep -q '^{"summary":{"entries":14,"differences":1,"errors":0,' "$T/vout" ||
	fail "json summary: $(cat "$T/vout")"

# ---- bad input -----------------------------------------------------------------
expect_err "loafre verify: cannot compare '$S' with '$T/none': No such file or directory" \
	V "$S" "$T/none"
rc=0
V "$S" "$T/none" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "missing destination: exit $rc, expected 2"
expect_err "loafre verify: invalid --uid-map 'x': 'x' is not S:D" V "$S" "$D" --uid-map x
rc=0
V "$S" >/dev/null 2>"$T/verr" || rc=$?
[ "$rc" -eq 2 ] && grep -q "^loafre verify: missing arguments" "$T/verr" ||
	fail "one argument: exit $rc, $(cat "$T/verr")"
out=$("$LOAFRE" verify --help) && grep -q "^usage: loafre verify" <<<"$out" || fail "verify --help"
echo "cli_verify: ok"
