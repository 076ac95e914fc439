#!/usr/bin/env python3
# broker_paths.py — path annotations of a paths group (docs/design/
# replication.md decisions 1 and 2; lib/broker.c "paths groups").
#
# loafred runs on a temp tree that already holds directories and files
# (they reach the group only through the broker's walk of the tree, not
# through records: the group starts at the newest record). Members are
# broker_member --paths t: after each record a "PATHS ..." line with the
# annotation loafre_batch_paths gave.
#
# Phase 1 (one acking member): mkdir, file creation, a directory renamed
# with its contents (subdirectories and files) into another directory,
# files created under the moved directory, files renamed across
# directories, a directory renamed over an empty one, rmdir storms of
# nested directories.
# Phase 2 (restart): a member that never acks receives records up to a
# directory rename (a barrier: held back behind them), then it is killed
# and loafred restarted (SIGTERM); a new member gets every unacked record
# again. The map was past them (it annotated the rename and a creation
# under the new name before the restart): the re-read records must carry
# the annotations they had the first time.
# Phase 3: more operations after the restart (the persisted map goes on).
# Phase 4 (barriers): member A holds its first record unacked; member B
# joins; a directory rename must not reach anyone while A holds (nor the
# record after it), while a file rename before it does; once A leaves, B
# gets A's record, then the rename (flag BARRIER), acks it, and only then
# the records after it.
# Phase 5: a member naming the other filesystem of loafred's configuration
# is refused; that filesystem's records reach the group with -EXDEV.
# Throughout: a member of a declared group whose module keeps only CREAT
# and CLOSE (reconnecting across the restart) gets them annotated by a map
# that saw the records the module dropped (MKDIR, RENME...): its creations
# under renamed directories carry their new paths.
#
# Oracles. (1) A replay of the journal's own records (loafre changelog
# --json) over the directories present when the group was made (FIDs with
# loafre path2fid): per record the expected path(s) as of that record and
# the DIR / VICTIM_DIR / BARRIER flags — every annotation any member got
# must equal it. (2) The operations this test did: the annotated paths of
# the MKDIR, CREAT, RENME (spath -> path), UNLNK and RMDIR records must be
# exactly the paths these operations used (as multisets; each operation
# waits for its records, so none is merged with another).
# Also: loafred logged the map's build, stats show the map's size after
# the restart equal to the directories then in the tree; paths= naming a
# filesystem loafred does not have is refused.
#
# How it fails without the feature: no PATHS lines or "NONE -61" (no
# annotations); annotations from the current tree instead of as of the
# record break oracle (1) after the directory rename; a map not persisted
# or re-annotating re-read records from the current map breaks phase 2
# (the record created under /r would read /r2/...); no barrier lets the
# rename through in phase 4; annotating after the modules (the map blind
# to what they drop) leaves member M's creations under renamed
# directories -ENOENT.
# Python 3 stdlib only; needs LOAFRE, LOAFRED and BROKER_MEMBER.
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_lib import (Failed, Member, register_keeper, run_main, stats,  # noqa: E402
                        users, wait_for)

GROUP = "rep-p"
MGROUP = "rep-m"  # a declared group whose module keeps only CREAT and CLOSE
FS = "t"
MDT = FS + "-MDT0000"
OTHER = "u"  # a second filesystem: its records reach the group as -EXDEV
ZERO = "[0:0x0:0x0]"
RP_DIR, RP_VICTIM_DIR, RP_BARRIER = 1, 2, 4
ENOENT, EXDEV, ENODATA = 2, 18, 61


def unescape(s):
    if s == "-":
        return None
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "%":
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
        else:
            out += s[i].encode()
            i += 1
    return out.decode("utf-8", "surrogateescape")


class PMember(Member):
    """A broker_member --print-rec --paths FS: also collects the "PATHS"
    lines as ("paths", index, flags, path_err, path, spath_err, spath, MDT)
    events."""

    def __init__(self, env, *args, name, group=GROUP):
        super().__init__(env, group, "--print-rec", "--paths", FS, *args, name=name)

    def _line(self, w):
        if w[0] == "PATHS" and w[3] == "NONE":
            self.events.append(("paths", int(w[2]), None, int(w[4]), None, None, None, w[1]))
        elif w[0] == "PATHS":
            self.events.append(("paths", int(w[2]), int(w[3]), int(w[4]),
                                unescape(w[5]), int(w[6]), unescape(w[7]), w[1]))
        else:
            return False
        return True

    def paths(self, mdt=MDT):
        """{index: (flags, path_err, path, spath_err, spath)} of MDT mdt
        (the last one received for each index)."""
        return {e[1]: e[2:7] for e in self.snapshot() if e[0] == "paths" and e[7] == mdt}


class DirModel:
    """The directories as of a changelog position: FID -> (parent, name),
    changed by records like lib/repl_paths.h says."""

    def __init__(self, root):
        self.root = root
        self.dirs = {}

    def known(self, fid):
        return fid == self.root or fid in self.dirs

    def path(self, fid):
        parts = []
        while fid != self.root:
            e = self.dirs.get(fid)
            if e is None or len(parts) > 4096:
                return None
            parts.append(e[1])
            fid = e[0]
        return "/" + "/".join(reversed(parts))

    def join(self, pfid, name):
        p = self.path(pfid)
        if p is None:
            return None
        return (p if p != "/" else "") + "/" + name

    def annotate(self, r):
        """(path, spath, flags) as of r, before it."""
        typ = r["type"]
        rename = typ == "RENME" and r.get("sfid", ZERO) != ZERO
        flags = 0
        if typ in ("MKDIR", "RMDIR"):
            flags |= RP_DIR
        elif self.known(r["sfid"] if rename else r["tfid"]):
            flags |= RP_DIR
        if rename and r["tfid"] != ZERO and r["tfid"] != r["sfid"] and self.known(r["tfid"]):
            flags |= RP_VICTIM_DIR
        path = spath = None
        if r.get("name") and r.get("pfid", ZERO) != ZERO:
            path = self.join(r["pfid"], r["name"])
        elif not rename and flags & RP_DIR and r["tfid"] != ZERO:
            path = self.path(r["tfid"])
        if typ == "RENME" and r.get("sname") and r.get("spfid", ZERO) != ZERO:
            spath = self.join(r["spfid"], r["sname"])
        if typ == "RMDIR" or (rename and flags & (RP_DIR | RP_VICTIM_DIR)):
            flags |= RP_BARRIER
        return path, spath, flags

    def apply(self, r):
        typ = r["type"]
        if typ == "MKDIR":
            self.dirs[r["tfid"]] = (r["pfid"], r["name"])
        elif typ == "RMDIR":
            self.dirs.pop(r["tfid"], None)
        elif typ == "RENME" and r.get("sfid", ZERO) != ZERO:
            was = r["sfid"] in self.dirs
            if r["tfid"] != ZERO and r["tfid"] != r["sfid"]:
                self.dirs.pop(r["tfid"], None)
            if was:
                if self.known(r["pfid"]):
                    self.dirs[r["sfid"]] = (r["pfid"], r["name"])
                else:
                    self.dirs.pop(r["sfid"], None)


class Ops:
    """The operations of the test, each waiting for its records (so the
    source merges nothing across operations), kept as multisets of
    (record type, path[, spath]) relative to the tree."""

    def __init__(self, env):
        self.env = env
        self.done = collections.Counter()

    def rel(self, p):
        return "/" + p.strip("/")

    def _wait(self, before, what):
        wait_for(lambda: users(self.env)["current_index"] > before, 10,
                 "the record(s) of %s" % what, interval=0.01)

    def run(self, kind, fn, *paths):
        before = users(self.env)["current_index"]
        fn(*[os.path.join(self.env.tree, p) for p in paths])
        self._wait(before, "%s %s" % (kind, paths))
        self.done[(kind,) + tuple(self.rel(p) for p in paths)] += 1

    def mkdir(self, p):
        self.run("MKDIR", os.mkdir, p)

    def create(self, p):
        def fn(q):
            with open(q, "w") as f:
                f.write("x")
        self.run("CREAT", fn, p)

    def rename(self, a, b):
        self.run("RENME", os.rename, a, b)

    def unlink(self, p):
        self.run("UNLNK", os.unlink, p)

    def rmdir(self, p):
        self.run("RMDIR", os.rmdir, p)


def check_ops(ops, recs, anns):
    """Oracle (2): the annotated paths of the records of these kinds are
    exactly the operations' paths."""
    got = collections.Counter()
    for r in recs:
        a = anns.get(r["index"])
        if r["type"] not in ("MKDIR", "CREAT", "RENME", "UNLNK", "RMDIR") or a is None:
            continue
        if r["type"] == "RENME":
            got[("RENME", a[4], a[2])] += 1
        else:
            got[(r["type"], a[2])] += 1
    if got != ops.done:
        raise Failed("annotated paths differ from the operations done:\n  only done: %s\n"
                     "  only annotated: %s" % (sorted((ops.done - got).elements()),
                                              sorted((got - ops.done).elements())))


def check_oracle(model, recs, members):
    """Oracle (1): every annotation received equals the replay's."""
    want = {}
    for r in recs:
        want[r["index"]] = model.annotate(r) + (r,)
        model.apply(r)
    checked = 0
    for m in members:
        for idx, (flags, perr, path, sperr, spath) in m.paths().items():
            if idx not in want:
                raise Failed("%s got paths of index %d, not a record of the group" % (m.name,
                                                                                       idx))
            wp, wsp, wf, r = want[idx]
            if flags is None:
                raise Failed("%s: no annotation for %d (%d)" % (m.name, idx, perr))
            bad = []
            if path != wp:
                bad.append("path %r, expected %r" % (path, wp))
            if spath != wsp:
                bad.append("spath %r, expected %r" % (spath, wsp))
            if flags != wf:
                bad.append("flags %d, expected %d" % (flags, wf))
            if (path is None) != (perr != 0):
                bad.append("path_err %d with path %r" % (perr, path))
            if path is None and r.get("name") and perr != -ENOENT:
                bad.append("path_err %d, expected -ENOENT" % perr)
            if path is None and not r.get("name") and perr != -ENODATA:
                bad.append("path_err %d, expected -ENODATA" % perr)
            if (spath is None) != (sperr != 0) and r["type"] == "RENME":
                bad.append("spath_err %d with spath %r" % (sperr, spath))
            if bad:
                raise Failed("%s: record %d %s %s: %s" % (m.name, idx, r["type"],
                                                          r.get("name", ""), "; ".join(bad)))
            checked += 1
    return checked


def live_dirs(root):
    n = 0
    for _, ds, _ in os.walk(root):
        n += len(ds)
    return n


def body(env, members):
    t = env.tree
    for d in ("a/b/c", "a/b/c2", "x", "y/z"):
        os.makedirs(os.path.join(t, d))
    for f in ("a/f0", "a/b/f1", "a/b/c/f2", "y/z/f3"):
        with open(os.path.join(t, f), "w") as fh:
            fh.write("seed")
    n0 = live_dirs(t)
    tree2 = os.path.join(env.base, "tree2")
    os.mkdir(tree2)
    with open(env.conf, "a") as f:
        f.write("\n[filesystem %s]\ntype = local\npath = tree2\njournal = journal2\n"
                "fsync = none\n" % OTHER)
        f.write("\n[group %s]\nstart = newest\nmodule = types = CREAT CLOSE\n" % MGROUP)
    env.start()
    register_keeper(env)
    env.quiesce(quiet=0.5)
    # the directories the walk will find, as the records name them
    model = DirModel(env.path2fid(t))
    for top, ds, _ in os.walk(t):
        for d in ds:
            p = os.path.join(top, d)
            model.dirs[env.path2fid(p)] = (env.path2fid(top), d)
    start = users(env)["current_index"]

    # the declared group: its member stays for the whole test (reconnecting
    # across the restart); it gets only CREAT and CLOSE records, annotated
    # with a map that saw every record (the module drops the others after)
    m = PMember(env, "--reconnect", name="M", group=MGROUP)
    members.append(m)
    m.wait_ready()

    # ---- phase 1 ----
    a = PMember(env, "--start", "newest", "--print-acks", name="A")
    members.append(a)
    a.wait_ready()
    wait_for(lambda: stats(env).get("broker.group.%s.paths_building" % GROUP) == 0, 60,
             "the paths map to be built")
    if "paths map of t built: %d directories" % n0 not in env.log_text():
        raise Failed("no log line of the map's build with its %d directories:\n%s"
                     % (n0, env.log_text()[-2000:]))
    # a filesystem loafred does not have: refused, the group unchanged
    bad = Member(env, GROUP, "--paths", "nosuch", name="bad")
    members.append(bad)
    if bad.proc.wait(15) != 1 or "paths: no filesystem nosuch" not in bad.stderr():
        raise Failed("paths=nosuch: exit %s, %r" % (bad.proc.returncode, bad.stderr()))
    ops = Ops(env)
    ops.mkdir("a/b/c/d")
    ops.create("a/b/c/d/g1")
    ops.mkdir("a/b/c/d/e")
    ops.create("a/b/c/d/e/g2")
    ops.rename("a/b", "x/bb")            # a directory with contents, into another
    ops.create("x/bb/c/d/g3")            # under its new name
    ops.mkdir("x/bb/c/d/e/h")
    ops.rename("x/bb/c/d/g1", "y/z/g1")  # files across directories
    ops.rename("a/f0", "x/bb/c2/f0")
    ops.rename("x/bb/c", "a/c")          # and back up, deeper contents along
    ops.create("a/c/d/e/h/g4")
    ops.rename("a/c/d/e/h/g4", "g4")
    ops.mkdir("v1")
    ops.mkdir("v2")
    ops.rename("v1", "v2")               # over an empty directory (victim)
    ops.create("v2/g5")
    ops.unlink("v2/g5")
    ops.unlink("a/c/d/e/g2")
    # an rmdir storm: nested directories made, then removed bottom up
    chain = ["s"]
    for i in range(1, 8):
        chain.append(chain[-1] + "/s%d" % i)
    for p in chain:
        ops.mkdir(p)
    for i in range(5):
        ops.mkdir("s/w%d" % i)
    for i in range(5):
        ops.rmdir("s/w%d" % i)
    for p in reversed(chain):
        ops.rmdir(p)
    env.quiesce(quiet=0.5)
    end1 = users(env)["current_index"]
    wait_for(lambda: end1 in a.recs(), 30, "member A to get every record of phase 1")

    # ---- phase 2: restart with records delivered, unacked ----
    a.stop()
    h = PMember(env, "--no-ack", name="H")
    members.append(h)
    h.wait_ready()
    ops.mkdir("r")
    ops.create("r/f")
    ops.rename("r", "r2")                # a barrier: held behind H's records
    ops.create("r2/k")
    env.quiesce(quiet=0.5)
    recs = env.records(start + 1)
    rf = [r["index"] for r in recs if r["type"] == "CREAT" and r.get("name") == "f"]
    wait_for(lambda: rf[0] in h.recs(), 30, "member H to get the creation of r/f")
    time.sleep(0.5)  # let the broker read (and annotate) the rest
    h.kill()
    env.stop()
    dirs_at_restart = live_dirs(t)
    env.start()
    c = PMember(env, "--print-acks", name="C")
    members.append(c)
    c.wait_ready()
    end2 = users(env)["current_index"]
    wait_for(lambda: end2 in c.recs(), 30, "member C to get every record of phase 2")
    key = "broker.group.%s.paths_dirs" % GROUP
    wait_for(lambda: stats(env).get(key) == dirs_at_restart, 10,
             lambda: "stats %s (%r) to show the %d directories of the tree"
             % (key, stats(env).get(key), dirs_at_restart))
    if rf[0] not in c.recs():
        raise Failed("the unacked creation of r/f (%d) was not delivered again" % rf[0])
    hp, cp = h.paths(), c.paths()
    for idx in h.recs():
        if idx in cp and hp.get(idx) != cp[idx]:
            raise Failed("record %d annotated %s before the restart, %s after"
                         % (idx, hp.get(idx), cp[idx]))
    if cp[rf[0]][2] != "/r/f":
        raise Failed("the re-read creation of r/f was annotated %s" % (cp[rf[0]],))

    # ---- phase 3: the map goes on ----
    ops.mkdir("r2/q")
    ops.create("r2/q/f")
    ops.rename("r2", "x/r3")
    ops.rename("x/r3/q/f", "x/r3/f")
    ops.rmdir("x/r3/q")
    env.quiesce(quiet=0.5)
    end3 = users(env)["current_index"]
    wait_for(lambda: end3 in c.recs(), 30, "member C to get every record of phase 3")
    c.stop()

    # ---- phase 4: barriers ----
    ops.mkdir("bar")
    ops.mkdir("bar/dd")
    env.quiesce(quiet=0.5)
    A = PMember(env, "--hold", "1", "--print-acks", name="A2")
    members.append(A)
    A.wait_ready()
    # A2 alone gets the two MKDIRs and holds the first
    held = wait_for(lambda: A.of_kind("held"), 30, "member A2 to hold a record")[0]
    ops.create("bar/f0")
    B = PMember(env, "--print-acks", name="B2")
    members.append(B)
    B.wait_ready()
    ops.rename("bar/f0", "bar/f1")       # not a barrier: goes out while A2 holds
    ops.rename("bar/dd", "bar/de")       # a barrier: waits for A2's record
    ops.create("bar/f2")                 # after the barrier
    env.quiesce(quiet=0.5)
    recs = env.records(start + 1)
    idx = {(r["type"], r.get("name")): r["index"] for r in recs if r["index"] > end3}
    ren_file, ren_dir = idx[("RENME", "f1")], idx[("RENME", "de")]
    after = idx[("CREAT", "f2")]
    wait_for(lambda: ren_file in A.recs() + B.recs(), 30, "the file rename to be delivered")
    time.sleep(1.0)
    both = set(A.recs() + B.recs())
    if ren_dir in both or after in both:
        raise Failed("the directory rename %d (or %d after it) was delivered while record "
                     "%d was held unacked" % (ren_dir, after, held))
    if held not in A.recs():
        raise Failed("A2 held %d, which it never got" % held)
    A.stop()  # BYE: its held record goes back to the group
    wait_for(lambda: after in B.recs(), 30, "B2 to get the records after the barrier")
    ev = [(e[0], e[1]) for e in B.snapshot() if e[0] in ("rec", "acked")]
    pos = {e: i for i, e in reversed(list(enumerate(ev)))}
    if not (pos[("rec", held)] < pos[("acked", held)] < pos[("rec", ren_dir)] <
            pos[("acked", ren_dir)] < pos[("rec", after)]):
        raise Failed("B2 did not get held record %d, then the barrier %d alone, then %d: %s"
                     % (held, ren_dir, after, ev[-12:]))
    if not B.paths()[ren_dir][0] & RP_BARRIER:
        raise Failed("the directory rename came without LOAFRE_RP_BARRIER: %s"
                     % (B.paths()[ren_dir],))
    fr = {**A.paths(), **B.paths()}[ren_file]  # either member, by its key
    if fr[0] & RP_BARRIER:
        raise Failed("the file rename came as a barrier: %s" % (fr,))
    B.stop()

    # ---- phase 5: another filesystem ----
    e = PMember(env, "--print-acks", name="E")
    members.append(e)
    e.wait_ready()
    other = Member(env, GROUP, "--paths", OTHER, name="other")
    members.append(other)
    want = "paths: the group's paths are of filesystem %s, not %s" % (FS, OTHER)
    if other.proc.wait(15) != 1 or want not in other.stderr():
        raise Failed("paths=%s in a paths group of %s: exit %s, %r"
                     % (OTHER, FS, other.proc.returncode, other.stderr()))
    os.mkdir(os.path.join(tree2, "d"))
    with open(os.path.join(tree2, "d", "f"), "w") as fh:
        fh.write("x")
    omdt = OTHER + "-MDT0000"
    got = wait_for(lambda: len(e.paths(omdt)) >= 3 and e.paths(omdt), 30,
                   lambda: "member E to get the MKDIR, CREAT, CLOSE of %s (has %s)"
                   % (omdt, e.paths(omdt)))
    for idx, (flags, perr, path, sperr, spath) in got.items():
        if (flags, perr, path, sperr, spath) != (0, -EXDEV, None, 0, None):
            raise Failed("record %d of %s annotated %s, expected -EXDEV only"
                         % (idx, omdt, (flags, perr, path, sperr, spath)))
    e.stop()

    recs = env.records(start + 1)
    creats = set(r["index"] for r in recs if r["type"] in ("CREAT", "CLOSE"))
    wait_for(lambda: creats <= set(m.paths()), 30,
             lambda: "member M of %s to get every CREAT and CLOSE (missing %s)"
             % (MGROUP, sorted(creats - set(m.paths()))[:10]))
    if set(m.paths()) - creats:
        raise Failed("member M of %s got records its module drops: %s"
                     % (MGROUP, sorted(set(m.paths()) - creats)[:10]))
    deep = [i for i in creats if (m.paths()[i][2] or "").startswith(("/x/bb/", "/a/c/"))]
    if not deep:
        raise Failed("member M has no creation under a renamed directory: %s" % m.paths())
    m.stop()
    ms = [a, h, c, A, B, m]
    n = check_oracle(model, recs, ms)
    anns = {}
    for m in ms:
        anns.update(m.paths())
    check_ops(ops, recs, anns)
    if set(r["index"] for r in recs) - set(anns):
        raise Failed("records never annotated: %s" % sorted(set(r["index"] for r in recs)
                                                           - set(anns))[:20])
    print("ok: %d annotations of %d records equal the replay and the %d operations; "
          "restart, barriers and the other filesystem held"
          % (n, len(recs), sum(ops.done.values())))


if __name__ == "__main__":
    sys.exit(run_main(body, "loafre-bpaths."))
