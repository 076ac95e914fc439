#!/usr/bin/env python3
"""repl_rules.py — what a rule selects and how it acts (issue 6, §1 and §5),
with loafred running one worker per rule on a real tree (local
destinations; each rule its own source subtree and destinations):

- ex:   excludes of each kind ([exclude] path, glob without and with '/',
        regex): nothing excluded reaches the destination, neither by the
        initial sync nor live (creates, a rename into an excluded name = an
        unlink at the destination, a rename out of one = a copy); deletes
        (unlink, rm -r of a tree, the initial sync's delete pass) never
        remove excluded destination entries; `loafre verify ex` agrees.
- ev:   `events = MKDIR CREAT`: only directory and file creations arrive
        (content as created); appends, chmod, renames, hard links,
        symlinks, unlinks, rmdir do not.
- sch:  a schedule whose window is not now (a month that is not this one):
        nothing arrives, the records stay unacked, `loafre rule status`
        says waiting; `loafre rule edit sch --set 'schedule=* * * * *'`
        (loafred reloads on SIGHUP): everything arrives.
- cmd:  command templates: `copy` (a logging wrapper that runs
        `/bin/cp --preserve=mode %{src} %{dst}`), `move` (logs, renames)
        and `delete` (only logs: the destination keeps the file): each ran
        with the expanded paths, and no built-in action replaced them.
- uid:  `uid_map=1000:2000` on one destination, none on another: owners
        1000 at the source are 2000 there and 1000 on the other (gids kept),
        also after a chown; `loafre verify uid` applies the map.
- dly:  `delay = 3s`: a file written 5 times within the delay is copied
        once (the destination's operation counter grows by one), and its
        content is held meanwhile. Then a directory renamed into a
        directory that is itself renamed within the same delay: its entries
        end up at the new place (the worker, applying the first rename
        late, moves it to where the source has it now; nothing removed),
        and an unlink and a rename out of it recorded under its path of
        then are applied where it is now.
- slow: a `copy` template that takes 4 s (longer than 3 broker heartbeats):
        the files arrive and the group redelivered nothing (the worker's
        member was not dropped as dead while the command ran).

Exit 77: rsync or root missing. Env: LOAFRE, LOAFRED; LOAFRE_KEEP=1.
"""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from repl_lib import Failed, compare_trees, diff_r, main_wrapper, snapshot  # noqa: E402

LOGCMD = """#!/usr/bin/python3
# the rule's command template: logs its arguments, then does the action
import os, sys
with open(%r, "a") as f:
    f.write("\\t".join(sys.argv[1:]) + "\\n")
if sys.argv[1] == "copy":
    os.execv("/bin/cp", ["/bin/cp", "--preserve=mode", sys.argv[2], sys.argv[3]])
elif sys.argv[1] == "move":
    os.rename(sys.argv[2], sys.argv[3])
"""


def W(path, data, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def R(path):
    with open(path) as f:
        return f.read()


def entries(root):
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        pre = "" if rel == "." else rel + "/"
        out.update(pre + n for n in dirnames + filenames)
    return out


def expect_entries(root, want, what):
    got = entries(root)
    if got != set(want):
        raise Failed("%s: %s holds\n  %s\nexpected\n  %s\n(extra: %s; missing: %s)"
                     % (what, root, sorted(got), sorted(want), sorted(got - set(want)),
                        sorted(set(want) - got)))


def verify_ok(env, rule, what):
    env.verify_ok(rule, what)


def dest_done(env, rule, i=0):
    v = env.rule_stats(rule).get("dest.%d.done" % i)
    if v is None or not v.isdigit():
        raise Failed("no counter rule.%s.dest.%d.done in loafred's stats: %s"
                     % (rule, i, env.describe(rule)))
    return int(v)


def body(env):
    T = env.tree
    D = {n: env.path("dest-" + n)
         for n in ("ex", "ev", "sch", "cmd", "uid1", "uid2", "dly", "slow")}
    for d in D.values():
        os.mkdir(d)
    for s in ("ex", "ev", "sch", "cmd", "uid", "dly", "slow"):
        os.mkdir(os.path.join(T, s))
    cmdlog = env.path("cmd.log")
    logcmd = env.path("logcmd")
    W(logcmd, LOGCMD % cmdlog, 0o755)

    # ---- ex: initial state of the source and the destination ---------------
    W(T + "/ex/keep.txt", "keep\n")
    W(T + "/ex/a.tmp", "source tmp\n")
    W(T + "/ex/skipdir/s1", "s1\n")
    W(T + "/ex/sub/x.bak", "bak\n")
    W(T + "/ex/sub/y", "y\n")
    W(T + "/ex/sub/cache/c0", "cache\n")
    W(T + "/ex/gone/cache/c", "cache\n")
    W(T + "/ex/gone/z", "z\n")
    W(D["ex"] + "/a.tmp", "destination's own tmp\n")
    W(D["ex"] + "/skipdir/s-dest", "destination's own\n")
    W(D["ex"] + "/sub/old.bak", "destination's own bak\n")
    W(D["ex"] + "/gone/cache/dc", "destination's own cache\n")
    env.write_exclude("junk", ["path = /ex/skipdir", "glob = *.tmp", "glob = /ex/**/cache",
                               r"regex = \.bak$"])
    env.write_rule("ex", ["source = /ex", "destination = " + D["ex"], "exclude = junk"])

    # ---- the other rules ---------------------------------------------------
    env.write_rule("ev", ["source = /ev", "destination = " + D["ev"], "events = MKDIR CREAT"])
    month = datetime.datetime.now().month
    other = (month + 5) % 12 + 1  # neither this month nor the next
    env.write_rule("sch", ["source = /sch", "destination = " + D["sch"],
                           "schedule = * * * %d *" % other])
    env.write_rule("cmd", ["source = /cmd", "destination = " + D["cmd"],
                           "copy = %s copy %%{src} %%{dst}" % logcmd,
                           "move = %s move %%{old} %%{dst}" % logcmd,
                           "delete = %s delete %%{dst} %%{rel} %%{type} %%{rule}" % logcmd])
    env.write_rule("uid", ["source = /uid", "destination = %s uid_map=1000:2000" % D["uid1"],
                           "destination = " + D["uid2"]])
    env.write_rule("dly", ["source = /dly", "destination = " + D["dly"], "delay = 3s"])
    env.write_rule("slow", ["source = /slow", "destination = " + D["slow"], "workers = 1",
                            "copy = /bin/sh -c 'sleep 4; exec /bin/cp \"$0\" \"$1\"' "
                            "%{src} %{dst}"])
    W(T + "/dly/f", "version 0\n")
    env.start()
    for r in ("ex", "ev", "cmd", "uid", "dly"):
        env.wait_converged(r, timeout=90)

    # ---- ex: after the initial sync ----------------------------------------
    want_ex = {"keep.txt", "a.tmp", "skipdir", "skipdir/s-dest", "sub", "sub/y", "sub/old.bak",
               "gone", "gone/z", "gone/cache", "gone/cache/dc"}
    expect_entries(D["ex"], want_ex, "ex after the initial sync")
    if R(D["ex"] + "/a.tmp") != "destination's own tmp\n":
        raise Failed("ex: the excluded destination file a.tmp was overwritten by the source's")
    verify_ok(env, "ex", "ex after the initial sync")
    # live
    W(T + "/ex/n.tmp", "n\n")
    W(T + "/ex/n.bak", "n\n")
    W(T + "/ex/n.txt", "n\n")
    W(T + "/ex/skipdir/s2", "s2\n")
    W(T + "/ex/skipdir/deeper/s3", "s3\n")
    W(T + "/ex/sub/cache/c1", "c1\n")
    W(T + "/ex/new/cache/deep/c2", "c2\n")
    os.rename(T + "/ex/keep.txt", T + "/ex/keep.tmp")  # out of scope: unlinked there
    os.rename(T + "/ex/a.tmp", T + "/ex/a.txt")        # into scope: copied
    os.rename(T + "/ex/sub/x.bak", T + "/ex/sub/x")    # into scope: copied
    import shutil
    shutil.rmtree(T + "/ex/gone")                      # the dest keeps gone/cache/dc
    os.unlink(T + "/ex/sub/y")

    # ---- ev ----------------------------------------------------------------
    os.mkdir(T + "/ev/d1")
    W(T + "/ev/d1/f", "one\n")

    # ---- sch ---------------------------------------------------------------
    W(T + "/sch/a", "a\n")
    W(T + "/sch/d/b", "b\n")

    # ---- cmd ---------------------------------------------------------------
    W(T + "/cmd/f", "template\n", 0o640)
    W(T + "/cmd/g", "moved\n", 0o600)
    W(T + "/cmd/sub/h", "in a directory\n")

    # ---- slow --------------------------------------------------------------
    W(T + "/slow/a", "a\n")
    W(T + "/slow/b", "b\n")

    # ---- uid ---------------------------------------------------------------
    W(T + "/uid/f", "f\n")
    os.chown(T + "/uid/f", 1000, 1000)
    W(T + "/uid/g", "g\n")
    os.chown(T + "/uid/g", 1234, 1000)
    os.mkdir(T + "/uid/d")
    os.chown(T + "/uid/d", 1000, 1234)
    W(T + "/uid/d/h", "h\n")
    os.chown(T + "/uid/d/h", 0, 0)

    for r in ("ex", "ev", "cmd", "uid"):
        env.wait_converged(r, timeout=90)

    # ---- ex: checks --------------------------------------------------------
    want_ex = {"a.tmp", "a.txt", "n.txt", "new", "skipdir", "skipdir/s-dest", "sub", "sub/x",
               "sub/old.bak", "gone", "gone/cache", "gone/cache/dc"}
    expect_entries(D["ex"], want_ex, "ex after the live operations")
    if R(D["ex"] + "/a.tmp") != "destination's own tmp\n":
        raise Failed("ex: the excluded destination file a.tmp was changed")
    if R(D["ex"] + "/a.txt") != "source tmp\n" or R(D["ex"] + "/sub/x") != "bak\n":
        raise Failed("ex: a file renamed out of an excluded name has the wrong content")
    verify_ok(env, "ex", "ex after the live operations")
    print("ex: excluded entries neither copied nor deleted")

    # ---- ev: the creations arrived; now everything else --------------------
    expect_entries(D["ev"], {"d1", "d1/f"}, "ev after mkdir and create")
    if R(D["ev"] + "/d1/f") != "one\n":
        raise Failed("ev: d1/f has %r" % R(D["ev"] + "/d1/f"))
    mode_f = os.stat(D["ev"] + "/d1/f").st_mode & 0o7777
    with open(T + "/ev/d1/f", "a") as f:
        f.write("two\n")
    os.chmod(T + "/ev/d1/f", 0o600 if mode_f != 0o600 else 0o640)
    os.setxattr(T + "/ev/d1/f", "user.ev", b"1")
    os.rename(T + "/ev/d1/f", T + "/ev/d1/g")
    os.link(T + "/ev/d1/g", T + "/ev/d1/hl")
    os.symlink("g", T + "/ev/d1/ln")
    os.mkdir(T + "/ev/d2")
    W(T + "/ev/d2/h", "h\n")
    os.mkdir(T + "/ev/d3")
    env.wait_converged("ev", timeout=60)
    os.rmdir(T + "/ev/d3")
    os.unlink(T + "/ev/d2/h")
    env.wait_converged("ev", timeout=60)
    expect_entries(D["ev"], {"d1", "d1/f", "d2", "d2/h", "d3"}, "ev (events = MKDIR CREAT)")
    st = os.stat(D["ev"] + "/d1/f")
    if R(D["ev"] + "/d1/f") != "one\n" or st.st_mode & 0o7777 != mode_f or \
            os.listxattr(D["ev"] + "/d1/f"):
        raise Failed("ev: d1/f changed by a record type not in events: %r mode %o xattrs %s"
                     % (R(D["ev"] + "/d1/f"), st.st_mode & 0o7777,
                        os.listxattr(D["ev"] + "/d1/f")))
    print("ev: only MKDIR and CREAT replicated")

    # ---- cmd: the templates ran --------------------------------------------
    log = R(cmdlog).splitlines() if os.path.exists(cmdlog) else []
    want = "copy\t%s\t%s" % (T + "/cmd/f", D["cmd"] + "/f")
    if want not in log:
        raise Failed("cmd: the copy template did not run for f (wanted %r); log:\n%s"
                     % (want, "\n".join(log)))
    if R(D["cmd"] + "/f") != "template\n" or os.stat(D["cmd"] + "/f").st_mode & 0o777 != 0o640:
        raise Failed("cmd: f at the destination is not the template's copy")
    if "copy\t%s\t%s" % (T + "/cmd/sub/h", D["cmd"] + "/sub/h") not in log:
        raise Failed("cmd: the copy template did not run for sub/h; log:\n%s" % "\n".join(log))
    n0 = len(log)
    os.rename(T + "/cmd/g", T + "/cmd/g2")
    os.unlink(T + "/cmd/f")
    env.wait_converged("cmd", timeout=60)
    log = R(cmdlog).splitlines()
    new = log[n0:]
    if "move\t%s\t%s" % (D["cmd"] + "/g", D["cmd"] + "/g2") not in new:
        raise Failed("cmd: the move template did not run for g -> g2; new log lines:\n%s"
                     % "\n".join(new))
    # (%{type} of a deleted entry: "file", or empty: the source is gone)
    if not any(ln in ("delete\t%s\tf\t%s\tcmd" % (D["cmd"] + "/f", t) for t in ("file", ""))
               for ln in new):
        raise Failed("cmd: the delete template did not run for f; new log lines:\n%s"
                     % "\n".join(new))
    if not os.path.exists(D["cmd"] + "/f"):
        raise Failed("cmd: f was removed at the destination: the built-in delete ran instead "
                     "of (or besides) the template, which only logs")
    if not os.path.exists(D["cmd"] + "/g2") or os.path.exists(D["cmd"] + "/g"):
        raise Failed("cmd: the move did not happen at the destination: %s"
                     % sorted(entries(D["cmd"])))
    print("cmd: copy, move and delete templates ran (%d command lines)" % len(log))

    # ---- uid ---------------------------------------------------------------
    def owners(root):
        return {rel: (os.lstat(os.path.join(root, rel)).st_uid,
                      os.lstat(os.path.join(root, rel)).st_gid)
                for rel in ("f", "g", "d", "d/h")}
    o1, o2 = owners(D["uid1"]), owners(D["uid2"])
    want1 = {"f": (2000, 1000), "g": (1234, 1000), "d": (2000, 1234), "d/h": (0, 0)}
    want2 = {"f": (1000, 1000), "g": (1234, 1000), "d": (1000, 1234), "d/h": (0, 0)}
    if o1 != want1 or o2 != want2:
        raise Failed("uid: owners %s (uid_map=1000:2000; expected %s) and %s (expected %s)"
                     % (o1, want1, o2, want2))
    os.chown(T + "/uid/g", 1000, 1000)
    env.wait_converged("uid", timeout=60)
    if os.lstat(D["uid1"] + "/g").st_uid != 2000 or os.lstat(D["uid2"] + "/g").st_uid != 1000:
        raise Failed("uid: after chown 1000: g owned %d (mapped) and %d"
                     % (os.lstat(D["uid1"] + "/g").st_uid, os.lstat(D["uid2"] + "/g").st_uid))
    verify_ok(env, "uid", "uid")
    d = compare_trees(T + "/uid", D["uid1"], uid_map={1000: 2000})
    if d:
        raise Failed("uid: the mapped destination differs:\n  " + "\n  ".join(d))
    print("uid: 1000 -> 2000 on the mapped destination only")

    # ---- slow: a command longer than 3 heartbeats -----------------------------
    env.wait_converged("slow", timeout=120)
    if R(D["slow"] + "/a") != "a\n" or R(D["slow"] + "/b") != "b\n":
        raise Failed("slow: the files did not arrive: %s" % sorted(entries(D["slow"])))
    red = env.group_stats("slow").get("redelivered")
    if red != "0":
        raise Failed("slow: group rep-slow redelivered %s records: the worker was dropped while "
                     "its 4 s copy command ran: %s" % (red, env.describe("slow")))
    print("slow: a 4 s copy command, nothing redelivered")

    # ---- dly: 5 writes within the delay, one copy --------------------------
    done0 = dest_done(env, "dly")
    t0 = time.monotonic()
    for i in range(1, 6):
        W(T + "/dly/f", "version %d\n" % i + "x" * i)
        time.sleep(0.15)
    held = R(D["dly"] + "/f")
    t_held = time.monotonic() - t0
    if t_held < 2.0 and held != "version 0\n":
        raise Failed("dly: the content arrived %.1f s after the first write (delay = 3s): %r"
                     % (t_held, held))
    env.wait_converged("dly", timeout=60)
    done1 = dest_done(env, "dly")
    if R(D["dly"] + "/f") != "version 5\nxxxxx":
        raise Failed("dly: f at the destination: %r" % R(D["dly"] + "/f"))
    if done1 - done0 != 1:
        raise Failed("dly: 5 writes within the delay made %d destination operations (expected "
                     "1 copy): %s" % (done1 - done0, env.describe("dly")))
    verify_ok(env, "dly", "dly")
    print("dly: 5 writes, 1 operation")

    # ---- dly: a directory renamed into a directory that moves on within the
    # delay: when the worker gets the first rename, its new name is gone at
    # the source; the directory (with entries no record names) must be moved
    # to where the source has it now, not removed
    W(T + "/dly/old/f1", "one\n")
    W(T + "/dly/old/sub/f2", "two\n")
    W(T + "/dly/old/gone", "removed\n")
    W(T + "/dly/old/mv", "moved out\n")
    os.mkdir(T + "/dly/p")
    env.wait_converged("dly", timeout=60)
    if R(D["dly"] + "/old/sub/f2") != "two\n":
        raise Failed("dly: old/sub/f2 did not arrive")
    os.mkdir(T + "/dly/p/q")
    os.rename(T + "/dly/old", T + "/dly/p/q/new")
    # records naming entries by the directory's path then (p/q/new/...)
    os.unlink(T + "/dly/p/q/new/gone")
    os.rename(T + "/dly/p/q/new/mv", T + "/dly/mv-out")
    os.rename(T + "/dly/p", T + "/dly/p2")
    W(T + "/dly/p2/q/new/f3", "three\n")
    env.wait_converged("dly", timeout=60)
    got = sorted(entries(D["dly"]))
    for want in ("p2/q/new/f1", "p2/q/new/sub/f2", "p2/q/new/f3", "mv-out"):
        if want not in got:
            raise Failed("dly: %s missing at the destination after old was renamed into a "
                         "directory renamed since; destination has %s" % (want, got))
    for extra in ("p2/q/new/gone", "p2/q/new/mv"):
        if extra in got:
            raise Failed("dly: %s still at the destination (removed/renamed at the source "
                         "under the directory's earlier path)" % extra)
    out = diff_r(T + "/dly", D["dly"])
    d = compare_trees(T + "/dly", D["dly"])
    if out or d:
        raise Failed("dly: after the renames:\n%s\n  %s" % (out, "\n  ".join(d)))
    verify_ok(env, "dly", "dly")
    print("dly: a directory renamed into one that moved on since: moved, nothing lost")

    # ---- sch: waiting, then the window opens ----------------------------------
    if entries(D["sch"]):
        raise Failed("sch: outside its window, the destination got %s" % sorted(entries(D["sch"])))
    last = env.wait_journal_quiet()
    if env.acked_position("sch") >= last:
        raise Failed("sch: outside its window, the group acked everything: %s"
                     % env.describe("sch"))
    st = env.rule_stats("sch").get("state")
    p = env.status("sch")
    if st != "waiting" or p.returncode != 0 or "waiting" not in p.stdout:
        raise Failed("sch: outside its window the state is %r; `loafre rule status sch` "
                     "(exit %d):\n%s%s" % (st, p.returncode, p.stdout, p.stderr))
    before = snapshot(T + "/sch")
    env.lf("rule", "edit", "sch", "--set", "schedule=* * * * *")
    env.wait_converged("sch", timeout=90)
    out = diff_r(T + "/sch", D["sch"])
    d = compare_trees(T + "/sch", D["sch"])
    if out or d:
        raise Failed("sch: after the window opened:\n%s\n  %s" % (out, "\n  ".join(d)))
    if snapshot(T + "/sch") != before:
        raise Failed("sch: the source changed")
    verify_ok(env, "sch", "sch")
    print("sch: waited outside its window, replicated once it opened")


def main():
    main_wrapper(body, "loafre-replrules.", ssh=False)


if __name__ == "__main__":
    main()
