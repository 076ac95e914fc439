#!/usr/bin/env python3
"""repl_outage.py — replication across outages (issue 6, §4 and §5).

`repl_outage.py dest` (loafred runs the rule's worker; destinations: a
local directory and one over SSH to a private sshd on 127.0.0.1):
  1. the sshd is stopped (listener and sessions: the worker's master
     connection breaks too); work is done at the source meanwhile (creates,
     a directory rename, deletes, chmod, xattrs); `loafre rule status`
     shows the SSH destination down (and the stats say `down`), the
     group's records stay unacked (the changelog reader of the group is not
     cleared past them);
     the sshd is started again on the same port: the work arrives
     (converged, verify --checksum, diff -r, the oracle).
  2. the local destination's directory is moved away and a regular file put
     at its path while work is done, then moved back: the work arrives
     (through the directory the worker holds open, or after the return),
     the file put at the path is left alone.

`repl_outage.py worker` (`loafre worker --rule NAME` processes "on another
node": a second configuration whose rules directory loafred does not read,
so loafred runs no worker of its own for those rules):
  3. a worker copying large files (to a local and an SSH destination) is
     killed with SIGKILL while it is transferring (a destination file open
     or an rsync child running); no destination file is ever partial under
     its final name; a new worker process converges.
  4. two worker processes on one rule: both joined the group, the replicas
     converge, and both did work (their stats: records acked by each).

Exit 77: sshd, rsync or root missing. Env: LOAFRE, LOAFRED; LOAFRE_KEEP=1.
"""
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from repl_lib import (Failed, Sshd, Storm, compare_trees, descendants, diff_r,  # noqa: E402
                      main_wrapper, populate, settled, wait_for)


def check_replicas(env, rule, dests, what):
    env.verify_ok(rule, what)
    check_dirs(env, dests, what)


def check_dirs(env, dests, what, sub=""):
    src = os.path.join(env.tree, sub) if sub else env.tree
    for d in dests:
        out = diff_r(src, d)
        if out:
            raise Failed("%s: diff -r %s %s:\n%s" % (what, src, d, out[-3000:]))
        diffs = compare_trees(src, d)
        if diffs:
            raise Failed("%s: %s differs from the source:\n  %s"
                         % (what, d, "\n  ".join(diffs)))


def dest_state(env, rule, i):
    return env.rule_stats(rule).get("dest.%d.state" % i)


def cleared(env, rule):
    """The changelog reader index of the rule's group (rep-RULE)."""
    import json
    p = env.lf("changelog_users", "--json", env.mdt)
    for u in json.loads(p.stdout)["users"]:
        if u["id"].endswith("-rep-" + rule):
            return u["index"]
    return None


def some_work(root, rng, tag):
    """Creates, a directory rename, deletes, chmod, an xattr under root."""
    base = os.path.join(root, tag)
    os.makedirs(os.path.join(base, "sub/deeper"))
    for i in range(20):
        with open(os.path.join(base, "sub" if i % 2 else "sub/deeper", "f%d" % i), "wb") as f:
            f.write(rng.randbytes(rng.randrange(1, 20000)))
    os.rename(os.path.join(base, "sub"), os.path.join(base, "moved"))
    os.unlink(os.path.join(base, "moved/f1"))
    os.chmod(os.path.join(base, "moved/f3"), 0o600)
    os.setxattr(os.path.join(base, "moved/f5"), "user.out", b"age")
    os.symlink("moved/f7", os.path.join(base, "ln"))


# ---- dest: loafred's worker, a destination down then back -------------------------

def test_dest(env):
    rng = random.Random(6)
    env.sshds = []
    sshd = Sshd(env.base)
    sshd.start()
    env.sshds.append(sshd)
    d1, d2 = env.path("d1"), env.path("d2")
    os.mkdir(d1)
    os.mkdir(d2)
    populate(env.tree, rng, dirs=5, files=40)
    env.write_rule("out", ["destination = " + d1, "destination = " + sshd.spec(d2)])
    env.start()
    env.wait_converged("out", timeout=120)
    check_replicas(env, "out", (d1, d2), "before the outage")

    # 1. the ssh destination down
    sshd.stop()
    t_down = time.monotonic()
    some_work(env.tree, rng, "during-ssh-outage")
    last = env.wait_journal_quiet()
    wait_for(lambda: dest_state(env, "out", 1) == "down", 60,
             lambda: "the ssh destination to be reported down: %s" % env.describe("out"))
    p = env.status("out")
    lines = [ln for ln in p.stdout.splitlines() if d2 in ln or "127.0.0.1" in ln]
    if p.returncode != 0 or not any("down" in ln for ln in lines):
        raise Failed("`loafre rule status out` while the ssh destination is down (exit %d) "
                     "does not say down on its line:\n%s%s" % (p.returncode, p.stdout, p.stderr))
    js = env.status_json("out")
    if not js.get("lag") or [d.get("state") for d in js.get("destinations", [])] != ["ok", "down"]:
        raise Failed("`loafre rule status out --json` while the ssh destination is down: lag "
                     "%r, destinations %r" % (js.get("lag"), js.get("destinations")))
    # (the local destination: not required to go on meanwhile — a record is
    # acked once every destination has it — but said)
    behind = len(compare_trees(env.tree, d1, limit=10**6))
    if os.path.exists(os.path.join(d2, "during-ssh-outage")):
        raise Failed("the work reached the ssh destination while its sshd was stopped?")
    pos = env.acked_position("out")
    cl = cleared(env, "out")
    if pos >= last or (cl is not None and cl >= last):
        raise Failed("records acked while a destination is down: group position %d, reader "
                     "cleared %s, journal last %d" % (pos, cl, last))
    print("ssh destination down for %.1f s: status said down, group at %d of %d, the local "
          "destination %d differences behind" % (time.monotonic() - t_down, pos, last, behind))
    sshd.start()
    t_up = time.monotonic()
    env.wait_converged("out", timeout=150)
    print("ssh destination back: converged in %.1f s" % (time.monotonic() - t_up))
    check_replicas(env, "out", (d1, d2), "after the ssh destination came back")
    wait_for(lambda: dest_state(env, "out", 1) == "ok", 30,
             lambda: "the ssh destination to be ok again: %s" % env.describe("out"))

    # 2. the local destination's directory replaced by a file, then back
    away = env.path("d1.away")
    os.rename(d1, away)
    with open(d1, "w") as f:
        f.write("not a directory\n")
    some_work(env.tree, rng, "during-local-outage")
    env.wait_journal_quiet()
    # give the worker time to try (and fail) while it is away: until the
    # ssh destination has the work
    wait_for(lambda: os.path.exists(os.path.join(d2, "during-local-outage/moved/f9")), 60,
             lambda: "the ssh destination to get the work done while the local one is away "
             "(moved/f9); it differs from the source:\n  %s\n%s"
             % ("\n  ".join(compare_trees(env.tree, d2)), env.describe("out")))
    st = dest_state(env, "out", 0)
    with open(d1) as f:
        if f.read() != "not a directory\n" or not os.path.isfile(d1):
            raise Failed("the file put at the destination's path was changed")
    os.unlink(d1)
    os.rename(away, d1)
    print("local destination replaced: its state meanwhile %r" % st)
    env.wait_converged("out", timeout=150)
    check_replicas(env, "out", (d1, d2), "after the local destination came back")


# ---- worker: SIGKILL mid-transfer, two worker processes ----------------------------

def mid_transfer(w, dests):
    """What w is transferring now: a destination path it has open, or its
    rsync child; None when nothing."""
    for pid, comm in descendants(w.pid):
        if comm == "rsync":
            return "rsync child %d" % pid
    fddir = "/proc/%d/fd" % w.pid
    try:
        fds = os.listdir(fddir)
    except OSError:
        return None
    for fd in fds:
        try:
            t = os.readlink(os.path.join(fddir, fd))
        except OSError:
            continue
        for d in dests:
            if t.startswith(d + "/"):
                try:
                    if os.path.isdir(t):
                        continue
                except OSError:
                    pass
                return "open %s" % t
    return None


def no_partial(env, sub, dests):
    """Every regular file at a destination under its final name is
    complete (the same bytes as the source: the files were complete before
    they were renamed into the rule's source)."""
    import filecmp
    for d in dests:
        for dirpath, _dn, fns in os.walk(d):
            for n in fns:
                full = os.path.join(dirpath, n)
                rel = os.path.relpath(full, d)
                s = os.path.join(env.tree, sub, rel)
                if ".loafre." in n or not os.path.isfile(s):
                    continue
                if not filecmp.cmp(s, full, shallow=False):
                    raise Failed("%s is partial or stale at %s after the SIGKILL: %d bytes, "
                                 "source %d" % (rel, d, os.path.getsize(full),
                                                os.path.getsize(s)))


def worker_stats(w):
    """Counters a `loafre worker` printed (lines "rule.NAME.KEY VALUE" in its
    log, at exit), as {key: value}."""
    out = {}
    for line in w.log_text().splitlines():
        k, _, v = line.strip().partition(" ")
        if k.startswith("rule."):
            out[k] = v
    return out


def test_worker(env):
    rng = random.Random(7)
    env.sshds = []
    sshd = Sshd(env.base)
    sshd.start()
    env.sshds.append(sshd)
    node2 = env.other_node_conf()
    os.makedirs(os.path.join(env.tree, "big"))
    os.makedirs(os.path.join(env.tree, "two"))
    d3, d4, d5 = env.path("d3"), env.path("d4"), env.path("d5")
    for d in (d3, d4, d5):
        os.mkdir(d)
    env.write_rule("big", ["source = /big", "destination = " + d3,
                           "destination = " + sshd.spec(d4), "workers = 2"], conf=node2)
    env.write_rule("two", ["source = /two", "destination = " + d5, "workers = 2"], conf=node2)
    env.start()

    # 3. SIGKILL mid-transfer
    w = env.start_worker("big", conf=node2, name="big1")
    env.wait_converged("big", timeout=60)
    # written outside the rule's source, then renamed into it: every state
    # a file had under /big is complete, so a shorter one at a destination
    # is a partial transfer
    os.makedirs(os.path.join(env.tree, "staging"))
    for i in range(12):
        staged = os.path.join(env.tree, "staging", "large%02d" % i)
        with open(staged, "wb") as f:
            for _ in range(24):
                f.write(rng.randbytes(1 << 20))
        os.rename(staged, os.path.join(env.tree, "big", "large%02d" % i))
    seen = wait_for(lambda: mid_transfer(w, (d3, d4)) or (not w.alive() and "exited"), 60,
                    "the worker to be transferring a large file", interval=0.002)
    if seen == "exited":
        raise Failed("worker big1 exited (%s): %s" % (w.proc.returncode, w.log_text()[-2000:]))
    w.proc.send_signal(signal.SIGKILL)
    w.kill()
    print("worker big1 killed with SIGKILL while transferring (%s)" % seen)
    no_partial(env, "big", (d3, d4))
    w2 = env.start_worker("big", conf=node2, name="big2")
    env.wait_converged("big", timeout=150)
    check_dirs(env, (d3, d4), "after SIGKILL and a new worker", sub="big")
    env.verify_ok("big", "after SIGKILL and a new worker", conf=node2)
    w2.stop()

    # 4. two worker processes on one rule
    wa = env.start_worker("two", "-v", conf=node2, name="two-a")
    wb = env.start_worker("two", "-v", conf=node2, name="two-b")
    wait_for(lambda: env.group_stats("two").get("members") == "4", 60,
             lambda: "both workers (2 threads each) to join group rep-two: %s"
             % env.describe("two"))
    storm = Storm(os.path.join(env.tree, "two"), rng)
    for _ in range(40):
        storm.op_mkdir()
    storm.run(400)
    env.wait_converged("two", timeout=150)
    # a name a worker process made at an object's current path, whose
    # later records the other process applied, goes at an idle check of
    # the process that made it
    settled(lambda: check_dirs(env, (d5,), "two worker processes", sub="two"), 30)
    env.verify_ok("two", "two worker processes", conf=node2)
    for x in (wa, wb):
        rc = x.stop()
        if rc != 0:
            raise Failed("%s exited %d after SIGTERM: %s" % (x.name, rc, x.log_text()[-2000:]))
    acked = []
    for x in (wa, wb):
        st = worker_stats(x)
        a = int(st.get("rule.two.acked", "0") or 0)
        d = int(st.get("rule.two.dest.0.done", "0") or 0)
        if not st:
            raise Failed("%s printed no counters at exit; log:\n%s" % (x.name, x.log_text()[-2000:]))
        o = int(st.get("rule.two.dest.0.orphans", "0") or 0)
        acked.append((x.name, a, d, o))
    print("two workers: %s" % ", ".join("%s acked %d, %d operations, %d orphan names removed"
                                        % t for t in acked))
    for name, a, d, _ in acked:
        if a == 0 or d == 0:
            raise Failed("worker %s did no work (acked %d records, %d destination operations)"
                         % (name, a, d))


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "dest":
        main_wrapper(test_dest, "loafre-reploutd.")
    elif which == "worker":
        main_wrapper(test_worker, "loafre-reploutw.")
    else:
        print("usage: repl_outage.py dest|worker")
        sys.exit(2)


if __name__ == "__main__":
    main()
