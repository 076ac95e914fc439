#!/usr/bin/env bash
# loafre rule add|list|show|edit|rm|enable|disable on a real configuration:
# round trips, persistence in rules_dir, refusals with one line naming the
# rule and the cause (nothing written), SIGHUP to a running loafred.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
write_conf <<CONF

[exclude junk]
glob = *.tmp
path = /scratch

[rule base]
filesystem = demo
source = /projects
destination = $T/mirror
CONF
RD=$T/rules.d
BL=$(grep -n '^\[rule base\]' "$CONF" | cut -d: -f1)

# ---- help -------------------------------------------------------------------
out=$("$LOAFRE" rule --help) && grep -q '^usage: loafre rule add NAME' <<<"$out" || fail "rule --help"
grep -q 'Exit status' <<<"$out" || fail "rule --help: exit codes"

# ---- list with the main file's rule only -------------------------------------
out=$(lf rule list)
grep -Eq "^base +demo +yes +/projects +$T/mirror +$CONF:$BL$" <<<"$out" || fail "list: $out"

# ---- add: refusals, nothing written -----------------------------------------
expect_err "loafre rule add: rule r1 not added: $RD/r1.rule:5: [rule r1]: match_regex 'a(b': missing closing parenthesis at offset 3" \
	lf rule add r1 --filesystem demo --destination "$T/d1" --match-regex 'a(b'
expect_err "loafre rule add: rule r1 not added: $RD/r1.rule:2: [rule r1]: unknown filesystem 'nofs'" \
	lf rule add r1 --filesystem nofs --destination "$T/d1"
expect_err "loafre rule add: rule r1 not added: $RD/r1.rule:5: [rule r1]: schedule '61 * * * *': minute: 61 is out of range 0-59" \
	lf rule add r1 --filesystem demo --destination "$T/d1" --schedule '61 * * * *'
expect_err "loafre rule add: rule r1 not added: $RD/r1.rule:2: [rule r1]: unknown exclude 'nope' (no [exclude nope] section)" \
	lf rule add r1 --filesystem demo --destination "$T/d1" --exclude nope
expect_err "loafre rule add: rule r1 not added: $RD/r1.rule:5: [rule r1]: copy: unknown variable %{srcc}" \
	lf rule add r1 --filesystem demo --destination "$T/d1" --copy 'cp %{srcc} %{dst}'
expect_err "loafre rule add: rule r1 not added: $RD/r1.rule:2: [rule r1]: destination $T/tree/x overlaps the replicated tree $T/tree" \
	lf rule add r1 --filesystem demo --destination "$T/tree/x"
expect_err "loafre rule add: rule r1 needs --filesystem and --destination" \
	lf rule add r1 --filesystem demo
expect_err "loafre rule add: invalid rule name 'waytoolongname' (1-11 characters of A-Z a-z 0-9 _ -, first a letter or digit)" \
	lf rule add waytoolongname --filesystem demo --destination "$T/d1"
expect_err "loafre rule add: rule base already exists ($CONF:$BL)" \
	lf rule add base --filesystem demo --destination "$T/d1"
expect_err "loafre rule add: rule r1: copy: ' ;' would start a comment in the configuration (write it without the blank)" \
	lf rule add r1 --filesystem demo --destination "$T/d1" --copy 'cp a ; b'
[ ! -e "$RD" ] || fail "a refused add wrote $(ls -A "$RD")"

# ---- add: a full rule ---------------------------------------------------------
lf rule add r1 --filesystem demo --destination "$T/d1" --destination "backup@host:/srv/b uid_map=0:1000,*:65534" \
	--source /projects --source /home --match-glob '/projects/**/*.h5' --match-regex '\.dat$' \
	--events 'CREAT MKDIR RENME' --exclude junk --delay 30s --schedule '*/5 22-23 * * mon-fri' \
	--min-size 1K --max-size 1G --owner 0 --min-age 10m --workers 4 \
	--copy '/usr/bin/scp -p %{src} "backup:%{dst}"' >"$T/out"
grep -q "^rule r1 added ($RD/r1.rule)$" "$T/out" || fail "add said: $(cat "$T/out")"
[ -f "$RD/r1.rule" ] || fail "no $RD/r1.rule"
grep -qx 'match_glob = /projects/\*\*/\*.h5' "$RD/r1.rule" || fail "r1.rule: $(cat "$RD/r1.rule")"
ls -A "$RD" | grep -q '^\.' && fail "temporary file left in $RD"
out=$(lf rule show r1)
for want in "origin        $RD/r1.rule:2 (loafre rule)" "enabled       yes" \
	"filesystem    demo ($T/tree)" "group         rep-r1" "source        /projects" \
	"source        /home" "destination   $T/d1" \
	"destination   backup@host:/srv/b uid_map=0:1000,*:65534" \
	"match_glob    /projects/**/*.h5" 'match_regex   \.dat$' "events        CREAT MKDIR RENME" \
	"min_size      1024" "max_size      1073741824" "owner         0" "min_age       10m" \
	"exclude       junk path=/scratch glob=*.tmp" "delay         30s" \
	"schedule      */5 22-23 * * mon-fri" 'copy          /usr/bin/scp -p %{src} "backup:%{dst}"' \
	"delete        built-in" "workers       4"; do
	grep -qxF "  $want" <<<"$out" || fail "show r1 lacks '$want':
$out"
done
out=$(lf rule show r1 --json)
python3 - "$out" "$T" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); t = sys.argv[2]
assert r["name"] == "r1" and r["group"] == "rep-r1" and r["enabled"] is True, r
assert r["sources"] == ["/projects", "/home"], r
assert r["destinations"][1] == {"target": "backup@host:/srv/b", "host": "host", "user": "backup",
    "path": "/srv/b", "uid_map": "0:1000,*:65534", "gid_map": None, "port": None,
    "identity": None, "known_hosts": None}, r["destinations"]
assert r["events"] == "CREAT MKDIR RENME" and r["delay"] == 30 and r["min_size"] == 1024, r
assert r["actions"]["copy"] == '/usr/bin/scp -p %{src} "backup:%{dst}"' and r["actions"]["move"] is None
assert r["exclude"] == [{"name": "junk", "path": ["/scratch"], "glob": ["*.tmp"], "regex": []}], r
assert r["origin"] == t + "/rules.d/r1.rule:2" and r["state"] is None, r
PY

# persistence: a fresh process (and the library) sees it; list --json
out=$(lf rule list --json)
python3 - "$out" <<'PY'
import json, sys
l = json.loads(sys.argv[1])
assert [r["name"] for r in l] == ["base", "r1"], l
assert l[1]["destinations"][0].endswith("/d1") and l[1]["enabled"] is True, l
PY

# ---- edit ----------------------------------------------------------------------
cp "$RD/r1.rule" "$T/r1.before"
expect_err "loafre rule edit: rule r1 not changed: $RD/r1.rule:10: [rule r1]: match_regex '(x': missing closing parenthesis at offset 2" \
	lf rule edit r1 --add 'match_regex=(x'
cmp -s "$RD/r1.rule" "$T/r1.before" || fail "a refused edit changed r1.rule"
expect_err "loafre rule edit: rule r1 has no max_age" lf rule edit r1 --unset max_age
expect_err "loafre rule edit: rule base is defined in $CONF:$BL; edit that file" \
	lf rule edit base --set delay=1s
expect_err "loafre rule edit: no rule nope (see loafre rule list)" lf rule edit nope --set delay=1s
expect_err "loafre rule edit: nothing to do (--set KEY=VALUE, --add KEY=VALUE, --unset KEY)" lf rule edit r1
lf rule edit r1 --set delay=2m --add "destination=$T/d3" --unset schedule --set min-size=2K >/dev/null
out=$(lf rule show r1)
grep -qxF "  delay         2m" <<<"$out" || fail "edit delay: $out"
grep -qxF "  destination   $T/d3" <<<"$out" || fail "edit --add destination: $out"
grep -qxF "  schedule      none (always)" <<<"$out" || fail "edit --unset schedule: $out"
grep -qxF "  min_size      2048" <<<"$out" || fail "edit min-size: $out"
grep -q '^# written by loafre rule add' "$RD/r1.rule" || fail "edit dropped the comment"
[ "$(grep -c '^delay = ' "$RD/r1.rule")" -eq 1 ] || fail "edit --set left two delay lines"

# ---- enable / disable -------------------------------------------------------
lf rule disable r1 >/dev/null
grep -qx 'enabled = no' "$RD/r1.rule" || fail "disable r1 did not write enabled = no"
[ ! -e "$RD/r1.state" ] || fail "disable of a rules_dir rule wrote a state file"
lf rule list | grep -Eq '^r1 +demo +no ' || fail "list after disable r1"
expect_out "rule r1 is already disabled" lf rule disable r1
lf rule enable r1 >/dev/null
grep -qx 'enabled = yes' "$RD/r1.rule" || fail "enable r1"
# a rule of the main file: an override file, reported, never silent
cp "$CONF" "$T/conf.before"
out=$(lf rule disable base)
[ "$out" = "rule base disabled by loafre rule disable (overrides $CONF:$BL; $RD/base.state)" ] ||
	fail "disable base said: $out"
grep -qx 'enabled = no' "$RD/base.state" || fail "base.state: $(cat "$RD/base.state")"
cmp -s "$CONF" "$T/conf.before" || fail "disable base changed the main file"
lf rule list | grep -Eq "^base +demo +no .*$CONF:$BL, disabled by loafre rule disable \(overrides $CONF:$BL; $RD/base.state\)$" ||
	fail "list does not report the override: $(lf rule list)"
lf rule show base | grep -qxF "  enabled       no, disabled by loafre rule disable (overrides $CONF:$BL; $RD/base.state)" ||
	fail "show does not report the override"
[ "$(lf rule show base --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["enabled"], r["enabled_in_file"], r["state_file"])')" = "False True $RD/base.state" ] ||
	fail "show --json of the override"
lf rule enable base >/dev/null
[ ! -e "$RD/base.state" ] || fail "enable base left base.state"
lf rule list | grep -Eq "^base +demo +yes .*$CONF:$BL$" || fail "list after enable base"

# ---- rm -----------------------------------------------------------------------
expect_err "loafre rule rm: rule base is defined in $CONF:$BL; edit that file" lf rule rm base
lf rule add r2 --filesystem demo --destination "$T/d2" --disabled >/dev/null
lf rule list | grep -Eq '^r2 +demo +no ' || fail "add --disabled"
lf rule rm r2 >/dev/null
[ ! -e "$RD/r2.rule" ] || fail "rm left r2.rule"
expect_err "loafre rule rm: no rule r2 (see loafre rule list)" lf rule rm r2
expect_err "loafre rule: unknown subcommand 'frob' (add, list, show, edit, rm, enable, disable, status, failed, retry)" lf rule frob x

# ---- the config file and rules_dir never disagree silently ---------------------
cat >>"$CONF" <<CONF

[rule r1]
filesystem = demo
destination = $T/d9
CONF
R1L=$(grep -n '^\[rule r1\]' "$CONF" | cut -d: -f1)
expect_err "loafre: $RD/r1.rule:2: [rule r1] is defined twice (also in $CONF:$R1L)" lf rule list
head -n -4 "$CONF" >"$T/c" && cat "$T/c" >"$CONF"
lf rule list >/dev/null

# ---- a running loafred is told to reload ---------------------------------------
start_daemon
mkdir -p "$T/d3b"
lf rule add r3 --filesystem demo --destination "$T/d3b" >"$T/out"
grep -q "^loafred (pid $DAEMON_PID) told to reload$" "$T/out" || fail "no SIGHUP: $(cat "$T/out")"
wait_for "grep -q 'SIGHUP: reloading' '$T/daemon.log'"
stop_daemon
echo "cli_rule: ok"
