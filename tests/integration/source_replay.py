#!/usr/bin/env python3
"""source_replay.py — the replay property of the local source (issue 3).

A consumer that applies the records, in index order, to the tree as loafred
first saw it must end with the live tree: same paths, same object types,
and the FIDs the records carry are the ones `loafre path2fid` gives.

Phases (each a check):
  seed        a small pre-existing tree, snapshotted silently at first
              start; the model is seeded from it with path2fid
  live        a random workload (creates, writes, truncates, chmod, mkdir,
              renames of files and directories across the tree, renames
              over existing files, hard links, symlinks, fifos, unlinks,
              rmdir, rm -rf), then replay and compare
  fids        path2fid of a sample of live paths equals the model's FIDs
  restart     loafred stopped (SIGTERM), a workload while stopped, started
              again: the new records replay to the tree
  stable      the FIDs of objects that lived through the stop (renamed or
              not) are unchanged
  live-after  a workload after the restart replays too

The workload is random over a seeded RNG: the seed is printed; rerun with
SEED=N. Env: LOAFRE, LOAFRED; OPS (live ops, default 2000); LOAFRE_KEEP=1.
Prints one PASS/FAIL line per check and "N passed, M failed"; exit 0/1.
"""
import os
import random
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_lib import (Env, Failed, Model, compare_tree, fmt_recs,  # noqa: E402
                        live_paths, need_binaries)


class Workload:
    """Random operations on the live tree; keeps its own view of the tree's
    paths (dirs, non-dirs) so it never needs to walk."""

    POOL = ["a", "b", "c", "d", "x"]  # reused names: merged events on (dir, name)

    def __init__(self, root, rng, protect_inos=()):
        self.root = root
        self.rng = rng
        self.n = 0
        self.protect = set(protect_inos)  # inodes never removed or overwritten
        self.stats = {}
        lp = live_paths(root)
        self.dirs = [""] + [p for p, t in lp.items() if t == "dir"]
        self.nondirs = {p: t for p, t in lp.items() if t != "dir"}

    def A(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def fresh(self, d):
        if self.rng.random() < 0.4:
            n = self.rng.choice(self.POOL)
        else:
            self.n += 1
            n = "n%d" % self.n
        rel = (d + "/" + n) if d else n
        if rel in self.nondirs or rel in self.dirs:
            self.n += 1
            n = "n%d" % self.n
            rel = (d + "/" + n) if d else n
        return rel

    def files(self):
        return [p for p, t in self.nondirs.items() if t == "file"]

    def protected(self, rel):
        if not self.protect:
            return False
        try:
            st = os.lstat(self.A(rel))
        except FileNotFoundError:
            return False
        if st.st_ino in self.protect:
            return True
        if os.path.isdir(self.A(rel)) and not os.path.islink(self.A(rel)):
            for dp, dn, fn in os.walk(self.A(rel)):
                for x in dn + fn:
                    if os.lstat(os.path.join(dp, x)).st_ino in self.protect:
                        return True
        return False

    def step(self):
        r = self.rng
        ops = [("create", 20), ("mkdir", 8), ("write", 10), ("trunc", 3), ("chmod", 5),
               ("mvfile", 12), ("mvdir", 5), ("link", 5), ("symlink", 4), ("fifo", 2),
               ("unlink", 10), ("rmdir", 4)]
        op = r.choices([o for o, _ in ops], [w for _, w in ops])[0]
        done = getattr(self, "op_" + op)()
        if done:
            self.stats[op] = self.stats.get(op, 0) + 1

    def op_create(self):
        rel = self.fresh(self.rng.choice(self.dirs))
        with open(self.A(rel), "w") as f:
            f.write("x" * self.rng.randint(0, 100))
        self.nondirs[rel] = "file"
        return True

    def op_mkdir(self):
        if len(self.dirs) > 60:
            return False
        rel = self.fresh(self.rng.choice(self.dirs))
        os.mkdir(self.A(rel))
        self.dirs.append(rel)
        return True

    def op_write(self):
        fs = self.files()
        if not fs:
            return False
        with open(self.A(self.rng.choice(fs)), "a") as f:
            f.write("y" * self.rng.randint(1, 50))
        return True

    def op_trunc(self):
        fs = self.files()
        if not fs:
            return False
        os.truncate(self.A(self.rng.choice(fs)), self.rng.randint(0, 10))
        return True

    def op_chmod(self):
        cands = self.files() + self.dirs[1:]
        if not cands:
            return False
        os.chmod(self.A(self.rng.choice(cands)), self.rng.choice([0o600, 0o644, 0o755, 0o700]))
        return True

    def op_mvfile(self):
        if not self.nondirs:
            return False
        src = self.rng.choice(list(self.nondirs))
        if self.rng.random() < 0.3:
            over = [p for p in self.nondirs if p != src]
            if not over:
                return False
            dst = self.rng.choice(over)
            if self.protected(dst):
                return False
            # two links of the same inode: rename(2) does nothing; skip
            if os.lstat(self.A(src)).st_ino == os.lstat(self.A(dst)).st_ino:
                return False
        else:
            dst = self.fresh(self.rng.choice(self.dirs))
        os.rename(self.A(src), self.A(dst))
        self.nondirs[dst] = self.nondirs.pop(src)
        return True

    def op_mvdir(self):
        if len(self.dirs) < 2:
            return False
        d = self.rng.choice(self.dirs[1:])
        targets = [p for p in self.dirs if p != d and not p.startswith(d + "/")]
        dst = self.fresh(self.rng.choice(targets))
        os.rename(self.A(d), self.A(dst))
        pre, npre = d + "/", dst + "/"
        self.dirs = [dst if p == d else (npre + p[len(pre):] if p.startswith(pre) else p)
                     for p in self.dirs]
        self.nondirs = {(npre + p[len(pre):] if p.startswith(pre) else p): t
                        for p, t in self.nondirs.items()}
        return True

    def op_link(self):
        fs = self.files()
        if not fs:
            return False
        dst = self.fresh(self.rng.choice(self.dirs))
        os.link(self.A(self.rng.choice(fs)), self.A(dst))
        self.nondirs[dst] = "file"
        return True

    def op_symlink(self):
        dst = self.fresh(self.rng.choice(self.dirs))
        os.symlink("target-%d" % self.rng.randint(0, 9), self.A(dst))
        self.nondirs[dst] = "symlink"
        return True

    def op_fifo(self):
        dst = self.fresh(self.rng.choice(self.dirs))
        os.mkfifo(self.A(dst))
        self.nondirs[dst] = "other"
        return True

    def op_unlink(self):
        if not self.nondirs:
            return False
        p = self.rng.choice(list(self.nondirs))
        if self.protected(p):
            return False
        os.unlink(self.A(p))
        del self.nondirs[p]
        return True

    def op_rmdir(self):
        if len(self.dirs) < 2:
            return False
        d = self.rng.choice(self.dirs[1:])
        if self.protected(d):
            return False
        if self.rng.random() < 0.25:
            shutil.rmtree(self.A(d))
        else:
            try:
                os.rmdir(self.A(d))
            except OSError:
                return False  # not empty
        pre = d + "/"
        self.dirs = [p for p in self.dirs if p != d and not p.startswith(pre)]
        self.nondirs = {p: t for p, t in self.nondirs.items() if not p.startswith(pre)}
        return True

    def run(self, n, pause_every=0):
        for i in range(n):
            self.step()
            if pause_every and i % pause_every == pause_every - 1:
                time.sleep(self.rng.random() * 0.05)


def main():
    need_binaries()
    seed = int(os.environ.get("SEED") or (int(time.time() * 1000) % 1000000007))
    n_live = int(os.environ.get("OPS") or 2000)
    print("seed %d (rerun with SEED=%d), %d live ops" % (seed, seed, n_live))
    rng = random.Random(seed)
    E = Env(prefix="loafre-replay.")
    results = []
    model = None
    ctx = {}

    def run(name, fn):
        t0 = time.monotonic()
        try:
            fn()
            results.append(True)
            print("PASS %s (%.1f s)" % (name, time.monotonic() - t0))
        except Failed as e:
            results.append(False)
            print("FAIL %s: %s" % (name, e))
        except Exception:
            results.append(False)
            print("FAIL %s: exception\n%s" % (name, traceback.format_exc()))
        sys.stdout.flush()

    def replay_compare(what, quiet=1.5):
        recs = E.quiesce(quiet=quiet, timeout=120)
        ctx["recs"] = recs
        for r in recs:
            model.apply(r)
        diffs = compare_tree(model, E.tree)
        print("  %s: %d records (%s)" % (what, len(recs), type_counts(recs)))
        if model.errors or diffs:
            raise Failed("%s: %d records applied; model errors (%d):\n  %s\n"
                         "model vs live tree (%d):\n  %s"
                         % (what, len(recs), len(model.errors), "\n  ".join(model.errors[:15]),
                            len(diffs), "\n  ".join(diffs)))

    def fid_sample(k=40):
        mp = model.paths()
        paths = sorted(mp)
        bad = []
        for p in rng.sample(paths, min(k, len(paths))):
            try:
                got = E.path2fid(os.path.join(E.tree, p))
            except Failed as e:
                bad.append("%s (%s): %s" % (p, mp[p][0], e))
                continue
            if got != mp[p][1]:
                bad.append("%s: path2fid %s, records say %s" % (p, got, mp[p][1]))
        if bad:
            raise Failed("FIDs disagree:\n  " + "\n  ".join(bad[:15]))

    try:
        # seed tree: dirs, files, a hard link, a symlink
        for d in ("s", "s/t", "u"):
            os.mkdir(os.path.join(E.tree, d))
        for f in ("s/f1", "s/t/f2", "u/f3", "top"):
            with open(os.path.join(E.tree, f), "w") as fh:
                fh.write(f)
        os.link(os.path.join(E.tree, "s/f1"), os.path.join(E.tree, "u/h1"))
        os.symlink("f1", os.path.join(E.tree, "s/l1"))

        def seed_phase():
            nonlocal model
            E.start()
            root = E.path2fid(E.tree)
            model = Model(root)
            for p, t in sorted(live_paths(E.tree).items()):
                fid = E.path2fid(os.path.join(E.tree, p))
                parent = E.path2fid(os.path.dirname(os.path.join(E.tree, p)))
                if fid not in model.objs:
                    model.objs[fid] = {"type": t, "links": set()}
                model.objs[fid]["links"].add((parent, os.path.basename(p)))
                model.dent[(parent, os.path.basename(p))] = fid
            time.sleep(1.0)
            recs = E.records(1)
            if recs:
                raise Failed("first start recorded the existing tree:\n%s" % fmt_recs(recs[:20]))
            diffs = compare_tree(model, E.tree)
            if diffs:
                raise Failed("seeded model != tree: %s" % diffs)
        run("seed", seed_phase)
        if model is None:
            raise Failed("cannot continue without a seeded model")

        w = Workload(E.tree, rng)

        def live():
            t0 = time.monotonic()
            w.run(n_live, pause_every=200)
            print("  workload: %d ops in %.2f s %s" % (n_live, time.monotonic() - t0,
                                                       dict(sorted(w.stats.items()))))
            replay_compare("live")
        run("live", live)
        run("fids", fid_sample)

        def restart():
            mp = model.paths()
            sample = rng.sample(sorted(mp), min(30, len(mp)))
            ctx["stable"] = {os.lstat(os.path.join(E.tree, p)).st_ino: mp[p][1] for p in sample}
            ctx["last"] = E.last
            rc = E.stop()
            if rc != 0:
                raise Failed("loafred exited %s on SIGTERM" % rc)
            ws = Workload(E.tree, rng, protect_inos=ctx["stable"].keys())
            ws.n = w.n + 100000
            ws.run(500)
            print("  while stopped: 500 ops %s" % dict(sorted(ws.stats.items())))
            E.start()
            replay_compare("after restart", quiet=2.0)
            # A moved object keeps its FID (file handle): its move is one
            # RENME, never a removal and a creation of the same FID (nor,
            # for a directory, records for everything inside it).
            gone, again = set(), []
            for r in ctx["recs"]:
                if r["type"] in ("UNLNK", "RMDIR") and (r["type"] == "RMDIR"
                                                        or int(r.get("flags", "0x0"), 16) & 1):
                    gone.add(r.get("tfid"))
                elif r["type"] in ("CREAT", "MKDIR", "SLINK", "MKNOD") and r.get("tfid") in gone:
                    again.append(r)
            if again:
                raise Failed("objects removed and created again (moves while stopped "
                             "must be RENME):\n%s" % fmt_recs(again[:15]))
            if E.last <= ctx["last"]:
                raise Failed("no records after the restart")
        run("restart", restart)

        def stable():
            if "stable" not in ctx:
                raise Failed("restart phase did not run")
            where = {}
            for dp, dn, fn in os.walk(E.tree):
                for x in dn + fn:
                    p = os.path.join(dp, x)
                    where.setdefault(os.lstat(p).st_ino, p)
            bad = []
            for ino, fid in ctx["stable"].items():
                if ino not in where:
                    bad.append("inode %d (%s) vanished (was protected)" % (ino, fid))
                    continue
                try:
                    got = E.path2fid(where[ino])
                except Failed as e:
                    bad.append(str(e))
                    continue
                if got != fid:
                    bad.append("%s: FID %s before the restart, %s after" % (where[ino], fid, got))
            if bad:
                raise Failed("\n  ".join(bad))
        run("stable", stable)

        def live_after():
            w2 = Workload(E.tree, rng)
            w2.n = w.n + 200000
            w2.run(500, pause_every=100)
            replay_compare("live after restart")
            fid_sample(20)
        run("live-after", live_after)

        rc = E.stop()
        if rc != 0:
            results.append(False)
            print("FAIL stop: loafred exited %s" % rc)
    except Failed as e:
        results.append(False)
        print("FAIL: %s" % e)
    finally:
        ok = all(results)
        if not ok:
            print("seed was %d\n--- daemon log (tail) ---\n%s" % (seed, E.log_text()[-3000:]))
        E.cleanup()
    p = sum(results)
    print("%d passed, %d failed" % (p, len(results) - p))
    return 0 if ok and results else 1


def type_counts(recs):
    c = {}
    for r in recs:
        c[r["type"]] = c.get(r["type"], 0) + 1
    return " ".join("%s=%d" % kv for kv in sorted(c.items()))


if __name__ == "__main__":
    sys.exit(main())
