#!/usr/bin/env python3
# index_oracle.py — the metadata index as loafred keeps it, checked against
# the live tree (issue 5): random workloads run on a real temp tree (creates,
# writes, truncates, renames of files and of whole directories across the
# tree, renames over files and empty directories, hard links, symlinks,
# fifos, unlinks, rm -rf, chmod, chown, backdated touch) while loafred (one
# local filesystem "t" with an [index t]) records and indexes them; then
# `loafre find` and `loafre du` must print what GNU find and GNU du print on
# the live tree:
#   - find: ~50 expressions (types, name globs, size ranges, owners after
#     chown, permissions, link counts, -empty, -newer, -mtime, -path, depth
#     limits, -printf, -ls, -o and !) from several start paths (relative,
#     absolute, two at once); sorted line sets compared (-ls with blanks
#     collapsed), exit statuses too;
#   - du: `du -s` of every directory, each its own invocation, exact; -s
#     with --apparent-size, --inodes, -b; a multi-path `du -s -c`; listings
#     (plain, -d N, --apparent-size, --inodes, -b, -a) of subtrees without
#     an inode linked from two of their directories (docs/index.md, "du":
#     loafre counts a multi-linked inode at its primary link, GNU at the
#     first link its traversal meets; two links in one directory: both
#     print the one its readdir gives first).
# Checkpoints: the indexer's initial scan; live changes; a loafred restart;
# changes made while loafred was stopped (its rescan records applied); an
# explicit `loafre scan` of a tree changed while stopped (queried with no
# loafred, then the restart's records applied over the newer scan); live
# changes again. Before each, the test waits for a sync file's records and
# for `loafre stats` to show the index's position at the journal's last
# index.
#
# The workload includes what the local source once did not record (a file
# grown with truncate(2), a directory's utime, directory mtimes moved by an
# entry added and removed between two looks of the source: now TRUNC, MTIME,
# MTIME; docs/sources.md) and directory dates are compared.
# LOAFRE_ORACLE_STRICT=0 leaves them out (grows through open+ftruncate+close,
# no directory utime, directory dates not compared), to tell such a gap from
# another bug. No known gaps of the local source remain.
#
# Deterministic workload per seed: LOAFRE_ORACLE_SEED=N reruns one (the
# seed is printed first; timing still varies); LOAFRE_ORACLE_OPS scales the
# workload (default 600 operations in the live phases). On a mismatch: the
# differing lines, the seed, and the temp directory is kept (tree/, the
# journal with every record — a reader "oracle" never clears —, index.db,
# ops.log with every operation and its time, daemon.log).
# Python 3 stdlib only; needs LOAFRE and LOAFRED; runs as root (chown).
import errno
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_lib import LOAFRE, Env, Failed, need_binaries  # noqa: E402

os.environ["LC_ALL"] = "C"
os.environ["TZ"] = "UTC"
DAY = 86400
UIDS = [0, 0, 1000, 1001, 1002, 1003, 1004]      # 1002+ usually have no name
GIDS = [0, 100, 1000, 1001, 1003]
MODES_F = [0o644, 0o600, 0o755, 0o700, 0o666, 0o640, 0o444, 0o4755, 0o2755, 0o664]
MODES_D = [0o755, 0o700, 0o775, 0o2775, 0o1777, 0o750, 0o711]
EXTS = [".c", ".h", ".txt", ".dat", ".TXT", ".log", "", "", ".nc"]
STEMS = ["f", "data_", "Notes", "run", "x", "with space ", "na\u00efve_", "core"]
DSTEMS = ["d", "run_", "sub", "Out", "tmp"]
MAX_DEPTH = 6
# The operations the local source once did not record (see op_touch,
# op_truncate) and directory dates: on unless LOAFRE_ORACLE_STRICT=0.
STRICT = os.environ.get("LOAFRE_ORACLE_STRICT", "1") != "0"


class Mismatch(Exception):
    """loafre's answer differs from GNU's."""


def run(args, cwd=None, timeout=120):
    p = subprocess.run(args, cwd=cwd, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# ---- the workload ---------------------------------------------------------------

class Workload:
    """Random operations on the live tree, drawn from a seeded generator.
    The candidate lists are refreshed from the tree (sorted, so a seed
    replays the same operations), every few operations; an operation whose
    object is gone meanwhile is skipped."""

    def __init__(self, root, rng, log):
        self.root = root
        self.rng = rng
        self.log = log          # every operation, timed (kept on failure)
        self.serial = 0
        self.done = {}
        self.skipped = 0
        self.cur = []           # paths of the current operation (for the log)
        self.refresh()

    def P(self, rel):
        self.cur.append(rel)
        return os.path.join(self.root, rel) if rel else self.root

    def refresh(self):
        self.dirs, self.files, self.links, self.others = [""], [], [], []
        for dp, dn, fn in os.walk(self.root):
            rel = os.path.relpath(dp, self.root)
            pre = "" if rel == "." else rel + "/"
            for n in dn + fn:       # (a symlink to a directory is in dn)
                m = os.lstat(os.path.join(dp, n)).st_mode
                if stat.S_ISDIR(m):
                    self.dirs.append(pre + n)
                    continue
                (self.files if stat.S_ISREG(m) else
                 self.links if stat.S_ISLNK(m) else self.others).append(pre + n)
        for v in (self.dirs, self.files, self.links, self.others):
            v.sort()

    def name(self, dir_=False):
        self.serial += 1
        r = self.rng
        if dir_:
            return "%s%d" % (r.choice(DSTEMS), self.serial)
        return "%s%d%s" % (r.choice(STEMS), self.serial, r.choice(EXTS))

    def size(self):
        r = self.rng
        u = r.random()
        if u < 0.12:
            return 0
        return int(2 ** (r.random() * 21))      # 1 B .. 2 MiB, log-distributed

    def depth(self, rel):
        return rel.count("/") + 1 if rel else 0

    def pick_dir(self, shallow=False):
        c = [d for d in self.dirs if self.depth(d) < MAX_DEPTH] if shallow else self.dirs
        return self.rng.choice(c or [""])

    @staticmethod
    def settle(f):
        """Data written through f allocated before it is closed: a
        filesystem with delayed allocation (ext4) may otherwise add blocks
        (extent tree blocks of a sparse file) at writeback, seconds after
        the close, with no event any changelog could record; GNU du would
        then see blocks the index never had a reason to fetch."""
        f.flush()
        os.fsync(f.fileno())

    def write_file(self, path, size, sparse=False):
        with open(path, "wb") as f:
            if sparse and size > 8192:
                f.truncate(size)
                f.seek(self.rng.randrange(size))
                f.write(b"s" * 100)
            elif size:
                f.write(bytes([65 + self.serial % 26]) * size)
            self.settle(f)

    # operations: each returns without raising unless something unexpected
    def op_mkdir(self):
        os.mkdir(self.P(self._join(self.pick_dir(shallow=True), self.name(True))))

    def _join(self, d, n):
        return d + "/" + n if d else n

    def op_create(self):
        d = self.pick_dir()
        self.write_file(self.P(self._join(d, self.name())), self.size(),
                        sparse=self.rng.random() < 0.2)

    def open_reg(self, path):
        """A regular file for writing; FileNotFoundError if the name no
        longer is one (a fifo or symlink renamed over it since the last
        refresh: writing there could block)."""
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, "not a regular file any more", path)
        return os.fdopen(fd, "r+b")

    def op_write(self):
        if not self.files:
            return self.op_create()
        p = self.P(self.rng.choice(self.files))
        with self.open_reg(p) as f:
            end = f.seek(0, 2)
            f.seek(self.rng.randrange(end + 1) if self.rng.random() < 0.5 else end)
            f.write(b"w" * self.rng.choice([1, 100, 4096, 20000, 300000]))
            self.settle(f)

    def op_truncate(self):
        """Shrinks with truncate(2) on the path; grows with truncate(2) too
        (STRICT, the default), else as GNU truncate does (open, ftruncate,
        close): the local source once recorded no grow by truncate(2) alone
        (no close follows it); it records TRUNC now."""
        if not self.files:
            return
        p, n = self.P(self.rng.choice(self.files)), self.size()
        with self.open_reg(p) as f:
            grow = n >= os.fstat(f.fileno()).st_size
        if not grow or STRICT:
            os.truncate(p, n)
        else:
            with self.open_reg(p) as f:
                f.truncate(n)

    def op_rename_file(self):
        src = self.rng.choice(self.files + self.links + self.others or [None])
        if src is None:
            return
        d = self.pick_dir()
        victims = [f for f in self.files if os.path.dirname(f) == d]
        if victims and self.rng.random() < 0.3:
            dst = self.rng.choice(victims)          # overwrite an existing file
        else:
            dst = self._join(d, self.name())
        os.rename(self.P(src), self.P(dst))

    def op_rename_dir(self):
        if len(self.dirs) < 2:
            return
        src = self.rng.choice(self.dirs[1:])
        cands = [d for d in self.dirs if d != src and not d.startswith(src + "/")
                 and self.depth(d) < MAX_DEPTH]
        d = self.rng.choice(cands or [""])
        empty = [e for e in self.dirs if os.path.dirname(e) == d and e != src and
                 not src.startswith(e + "/") and not os.listdir(self.P(e))]
        if empty and self.rng.random() < 0.3:
            dst = self.rng.choice(empty)            # replace an empty directory
        else:
            dst = self._join(d, self.name(True))
        os.rename(self.P(src), self.P(dst))

    def op_hardlink(self):
        if not self.files:
            return
        os.link(self.P(self.rng.choice(self.files)),
                self.P(self._join(self.pick_dir(), self.name())))

    def op_symlink(self):
        r = self.rng
        tgt = r.choice([r.choice(self.files or ["nowhere"]), "../" + self.name(),
                        r.choice(self.dirs[1:] or ["x"])])
        os.symlink(tgt, self.P(self._join(self.pick_dir(), self.name())))

    def op_mkfifo(self):
        os.mkfifo(self.P(self._join(self.pick_dir(), self.name())))

    def op_unlink(self):
        c = self.files + self.links + self.others
        if c:
            os.unlink(self.P(self.rng.choice(c)))

    def op_rmtree(self):
        small = [d for d in self.dirs[1:]
                 if sum(1 for x in self.dirs if x.startswith(d + "/")) < 6]
        if small:
            shutil.rmtree(self.P(self.rng.choice(small)))

    def op_chmod(self):
        r = self.rng
        if r.random() < 0.3 and len(self.dirs) > 1:
            os.chmod(self.P(r.choice(self.dirs[1:])), r.choice(MODES_D))
        elif self.files:
            os.chmod(self.P(r.choice(self.files)), r.choice(MODES_F))

    def op_chown(self):
        r = self.rng
        c = self.files + self.links + self.dirs[1:] + self.others
        if c:
            os.lchown(self.P(r.choice(c)), r.choice(UIDS), r.choice(GIDS))

    def op_touch(self):
        """touch -d 'N.5 days ago' (away from find's day boundaries): files
        and, in STRICT (the default), directories (the local source once
        recorded no MTIME for a directory's utime)."""
        r = self.rng
        c = self.files + (self.dirs[1:] if STRICT else [])
        if c:
            t = time.time() - (r.choice([1, 2, 3, 5, 10, 40, 400]) + 0.5) * DAY
            os.utime(self.P(r.choice(c)), (t, t))

    OPS = [("create", 22), ("mkdir", 7), ("write", 8), ("truncate", 5), ("rename_file", 9),
           ("rename_dir", 4), ("hardlink", 6), ("symlink", 4), ("mkfifo", 1), ("unlink", 8),
           ("rmtree", 2), ("chmod", 6), ("chown", 7), ("touch", 6)]

    def step(self):
        k = self.rng.choices([o for o, _ in self.OPS], [w for _, w in self.OPS])[0]
        self.cur = []
        try:
            getattr(self, "op_" + k)()
            self.log.write("%.6f %s %s\n" % (time.time(), k, " ".join(map(repr, self.cur))))
            self.done[k] = self.done.get(k, 0) + 1
        except OSError as e:
            # the object went away (or changed type) since the last refresh
            if e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EEXIST, errno.EISDIR,
                               errno.ENOTEMPTY, errno.EXDEV, errno.EINVAL, errno.ELOOP):
                raise
            self.skipped += 1
            self.log.write("%.6f %s skipped: %s\n" % (time.time(), k, e))

    def run(self, n, pace=True):
        """n operations, in bursts separated by short pauses (so that they
        fall into one or several group commits)."""
        i = 0
        while i < n:
            burst = self.rng.randint(1, 40)
            for _ in range(min(burst, n - i)):
                self.step()
                i += 1
                if i % 8 == 0:
                    self.refresh()
            if pace:
                time.sleep(self.rng.choice([0, 0.002, 0.01, 0.03, 0.1]))
        self.refresh()


# ---- waiting for the index ------------------------------------------------------------

def stats(env):
    p = env.lf("stats", check=False)
    out = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(" ")
        out[k] = v
    return out


def journal_index(env):
    p = env.lf("changelog_users", "--json", env.mdt, check=False)
    if p.returncode != 0:
        return 0
    return json.loads(p.stdout)["current_index"]


SYNC = [0]


def wait_record(env, start, rtype, name, deadline):
    """The index of the first record of type rtype naming `name` at or
    after index start."""
    while time.monotonic() < deadline:
        for r in env.records(start):
            if r.get("type") == rtype and r.get("name") == name:
                return r["index"]
        time.sleep(0.05)
    raise Failed("no %s record for the sync file %s (log:\n%s)" % (rtype, name,
                                                                   env.log_text()[-3000:]))


def wait_caught_up(env, timeout=90):
    """Until the index holds everything done to the tree so far: a sync
    file is created at the root and removed once its CREAT is in the
    journal (fanotify queues events in order: every earlier change has
    been read by then), then its UNLNK is awaited, then the index's
    position (this loafred's stats) must reach the journal's last index."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    SYNC[0] += 1
    name = ".oracle-sync-%d" % SYNC[0]
    path = os.path.join(env.tree, name)
    start = journal_index(env) + 1
    open(path, "w").close()
    start = wait_record(env, start, "CREAT", name, deadline)
    os.unlink(path)
    wait_record(env, start, "UNLNK", name, deadline)
    s = {}
    while time.monotonic() < deadline:
        last = journal_index(env)
        s = stats(env)
        if (s.get("loafred.pid") == str(env.proc.pid) and
                s.get("index.t.state") == "running" and
                s.get("index.t.position.%s" % env.mdt) == str(last)):
            return time.monotonic() - t0
        time.sleep(0.1)
    raise Failed("the index did not catch up with the journal (index %d) within %d s: %s\n"
                 "log:\n%s" % (last, timeout,
                               {k: v for k, v in s.items() if k.startswith(("index.", "mdt."))},
                               env.log_text()[-3000:]))


# ---- comparisons ------------------------------------------------------------------------

def ls_norm(line):
    """An -ls line with blanks collapsed (column widths depend on what was
    printed before) and, unless STRICT, a directory's date left out (see
    Oracle.check)."""
    f = line.split()
    if not STRICT and len(f) > 10 and f[2].startswith(b"d"):
        f = f[:7] + f[10:]
    return b" ".join(f)


class Oracle:
    def __init__(self, env, w, rng):
        self.env = env
        self.w = w
        self.rng = rng
        self.checks = 0
        self.problems = []

    def lf(self, *args, cwd=None):
        return run([LOAFRE, "-c", self.env.conf] + list(args), cwd=cwd)

    def differ(self, label, mine, gnu, how):
        if how == "ls":
            norm = lambda out: sorted(ls_norm(l) for l in out.splitlines())
        elif how == "exact":
            norm = lambda out: out.splitlines()
        else:
            norm = lambda out: sorted(out.splitlines())
        a, b = norm(mine[1]), norm(gnu[1])
        self.checks += 1
        msg = []
        if mine[0] != gnu[0]:
            msg.append("exit %d, GNU %d; loafre stderr: %s" % (
                mine[0], gnu[0], mine[2].decode(errors="replace").strip()))
        if a != b:
            sa, sb = set(a), set(b)
            only_l = sorted(sa - sb)
            only_g = sorted(sb - sa)
            msg.append("output differs (%d lines, GNU %d)" % (len(a), len(b)))
            for tag, v in (("loafre only", only_l), ("GNU only", only_g)):
                for line in v[:25]:
                    msg.append("  %s: %s" % (tag, line.decode(errors="replace")))
                if len(v) > 25:
                    msg.append("  %s: ... %d more" % (tag, len(v) - 25))
            if not only_l and not only_g:
                msg.append("  (same lines, different order or multiplicity)")
        if msg:
            self.problems.append(label + ": " + "\n    ".join(msg))
            print("MISMATCH %s:\n    %s" % (label, "\n    ".join(msg)), flush=True)

    def find(self, starts, expr, how="lines"):
        cwd = self.env.tree
        mine = self.lf("find", *starts, *expr, cwd=cwd)
        gnu = run(["find", *starts, *expr], cwd=cwd)
        self.differ("find %s %s" % (" ".join(starts), " ".join(expr)), mine, gnu, how)

    def du(self, args, how="lines", cwd=None):
        cwd = cwd or self.env.tree
        mine = self.lf("du", *args, cwd=cwd)
        gnu = run(["du", *args], cwd=cwd)
        self.differ("du %s" % " ".join(args), mine, gnu, how)

    # subtrees whose du listings are comparable
    def listing_ok(self):
        """Directories (relative) whose du listings are comparable: no
        inode linked from two different directories of the subtree (GNU
        counts it in the directory its traversal meets first, loafre at its
        primary link). Two links in one directory are fine, with -a too:
        loafre prints the one the live directory's readdir gives first, as
        GNU does."""
        links = {}   # ino -> directories of its links (one per link)
        for f in self.w.files:
            st = os.lstat(self.w.P(f))
            if st.st_nlink > 1:
                links.setdefault(st.st_ino, []).append(os.path.dirname(f))
        bad, bad_a = set(), set()
        for dirs in links.values():
            dirs = sorted(dirs)
            for i, a in enumerate(dirs):
                for b in dirs[i + 1:]:
                    # every common ancestor of a and b sees both links
                    pa, pb = a.split("/") if a else [], b.split("/") if b else []
                    k = 0
                    while k < min(len(pa), len(pb)) and pa[k] == pb[k]:
                        k += 1
                    if a == b:
                        continue
                    for j in range(k + 1):
                        bad.add("/".join(pa[:j]))
        bad_a |= bad
        return ([d for d in self.w.dirs if d not in bad],
                [d for d in self.w.dirs if d not in bad_a])

    def check(self, label):
        t0 = time.monotonic()
        w, rng, tree = self.w, self.rng, self.env.tree
        w.refresh()
        n0, p0 = self.checks, len(self.problems)
        files = w.files
        ref = files[len(files) // 2] if files else "."
        subs = [d for d in w.dirs[1:] if self.depth_ok(d)]
        sub = rng.choice(subs) if subs else "."
        sub2 = rng.choice(subs) if subs else "."
        # Directories' dates: compared in STRICT (the default; the local
        # source once recorded nothing for a directory's utime, nor for its
        # mtime moved by an entry added and removed between two looks).
        nd = [] if STRICT else ["!", "-type", "d"]
        exprs = [
            [], ["-type", "d"], ["-type", "f"], ["-type", "l"], ["-type", "p"],
            ["-name", "*.c"], ["-name", "f1*"], ["-name", "*space*"], ["-iname", "*.txt"],
            ["-name", "[dN]*"], ["-size", "+10k"], ["-size", "-3"], ["-size", "0"],
            ["-size", "+4k", "-size", "-100k"], ["-size", "+1M", "-type", "f"],
            ["-uid", "1001"], ["-user", "root", "-type", "f"], ["-nouser"], ["-gid", "100"],
            ["-uid", "1000", "-o", "-uid", "1003"], ["-perm", "-u+x", "-type", "f"],
            ["-perm", "644"], ["-perm", "/o+w"], ["-perm", "-4000"],
            ["-links", "+1", "-type", "f"], ["-links", "2"], ["-empty"],
            nd + ["-newer", ref], ["!", "-newer", ref, "-type", "f"], nd + ["-mtime", "+3"],
            nd + ["-mtime", "-2"], ["-mtime", "10"], ["-mtime", "+100", "-type", "d"],
            ["-path", "*/d*/*"], ["-path", "./run_*"], ["-maxdepth", "2"],
            ["-mindepth", "3", "-type", "d"], ["-mindepth", "1", "-maxdepth", "1"],
            ["-printf", r"%p %s %m %u %n\n"], nd + ["-printf", r"%p %T@ %y %k %g %i\n"],
            ["-type", "d", "-printf", r"%p %y %k %g %i %n\n"],
            ["-type", "l", "-printf", r"%p -> %l\n"],
            ["(", "-name", "*.c", "-o", "-name", "*.h", ")", "!", "-empty"],
            ["!", "-type", "d", "(", "-uid", "1000", "-o", "-size", "+50k", ")"],
            ["-type", "f", "-name", "*.dat", "-size", "+1k"],
            ["-name", "*.log", "-o", "-type", "d", "-empty"],
            ["!", "-type", "f", "!", "-type", "d"],
            ["-size", "+20k", "-user", "1001"],
        ]
        for e in exprs:
            self.find(["."], e)
        self.find(["."], ["-ls"], how="ls")
        self.find([sub], ["-type", "f", "-ls"], how="ls")
        for starts in ([sub], [tree], [sub, sub2], [tree + "/" + sub]):
            for e in ([], ["-type", "f", "-size", "+2k"], ["-name", "*.c"], ["-uid", "1000"],
                      ["-maxdepth", "1"], ["-printf", r"%p %s %m %u %n\n"]):
                self.find(starts, e)
        # du -s of every directory, each its own invocation, exact
        for d in w.dirs:
            self.du(["-s", w.P(d)], how="exact")
        for d in rng.sample(w.dirs, min(8, len(w.dirs))):
            self.du(["-s", "--apparent-size", w.P(d)], how="exact")
            self.du(["-s", "--inodes", w.P(d)], how="exact")
            self.du(["-s", "-b", w.P(d)], how="exact")
        several = rng.sample(w.dirs, min(4, len(w.dirs)))
        self.du(["-s", "-c"] + [w.P(d) for d in several], how="exact")
        # listings of subtrees with no hard links across their directories
        ok, ok_a = self.listing_ok()
        for d in ([""] if "" in ok else []) + rng.sample(ok, min(4, len(ok))):
            for a in ([], ["-d", "1"], ["--apparent-size"], ["--inodes"],
                      ["-d", "2", "--inodes"], ["-b", "-d", "3"]):
                self.du(a + [d or "."])
        for d in ([""] if "" in ok_a else []) + rng.sample(ok_a, min(4, len(ok_a))):
            for a in (["-a"], ["-a", "--apparent-size"], ["-a", "-b"], ["-a", "--inodes"]):
                self.du(a + [d or "."])
        print("%s: %d checks, %d mismatches (%d dirs, %d files, %d symlinks; %d subtrees "
              "listable; %.1f s)" % (label, self.checks - n0, len(self.problems) - p0,
                                     len(w.dirs), len(w.files), len(w.links), len(ok),
                                     time.monotonic() - t0), flush=True)
        if len(self.problems) > p0:
            raise Mismatch(label)

    def depth_ok(self, d):
        return d.count("/") < 3


# ---- the scenario ------------------------------------------------------------------------

def main():
    need_binaries()
    if os.geteuid() != 0:
        print("SKIP: index_oracle needs root (chown to other users)")
        return 77
    seed = int(os.environ.get("LOAFRE_ORACLE_SEED") or
               int.from_bytes(os.urandom(4), "little"))
    ops = int(os.environ.get("LOAFRE_ORACLE_OPS") or 600)
    print("seed %d (rerun with LOAFRE_ORACLE_SEED=%d)" % (seed, seed), flush=True)
    rng = random.Random(seed)
    env = Env(prefix="loafre-oracle.")
    with open(env.conf, "a") as f:
        f.write("\n[index t]\n")
    keep = False
    T0 = time.monotonic()
    oplog = open(os.path.join(env.base, "ops.log"), "w")
    try:
        # a reader that never clears: the journal keeps every record for a
        # post-mortem (`loafre changelog t-MDT0000` in the kept directory)
        env.lf("changelog_register", env.mdt, "-u", "oracle")
        w = Workload(env.tree, rng, oplog)
        o = Oracle(env, w, random.Random(seed ^ 0x5EED))
        # 1. a tree that exists before loafred: loaded by the indexer's scan
        w.run(ops // 2, pace=False)
        env.start()
        t = wait_caught_up(env)
        print("initial scan: caught up in %.1f s" % t, flush=True)
        o.check("after the indexer's initial scan")
        # 2. live changes
        w.run(ops)
        print("live workload: %s" % w.done, flush=True)
        t = wait_caught_up(env)
        print("caught up in %.1f s" % t, flush=True)
        o.check("after live changes")
        # 3. a restart, nothing changed
        rc = env.stop()
        if rc != 0:
            raise Failed("loafred exited %s at SIGTERM" % rc)
        env.start()
        wait_caught_up(env)
        o.check("after a loafred restart")
        # 4. changes while stopped: loafred's rescan records them at start
        env.stop()
        w.run(ops // 2, pace=False)
        env.start()
        t = wait_caught_up(env)
        print("changes while stopped: caught up in %.1f s" % t, flush=True)
        o.check("after a restart over changes made while stopped")
        w.run(ops // 2)
        wait_caught_up(env)
        o.check("after live changes following the restart")
        # 5. changes while stopped, then an explicit scan (no loafred), then
        #    loafred's records of those changes applied over the newer scan
        env.stop()
        w.run(ops // 2, pace=False)
        p = env.lf("scan", "-q", "t", check=False)
        if p.returncode != 0:
            raise Failed("'loafre scan t' exited %d: %s" % (p.returncode, p.stderr.strip()))
        print(p.stdout.strip(), flush=True)
        o.check("after 'loafre scan' of a tree changed while loafred was stopped")
        env.start()
        wait_caught_up(env)
        o.check("after loafred's records applied over the newer scan")
        w.run(ops // 2)
        wait_caught_up(env)
        o.check("after a last live workload")
        s = stats(env)
        print("index: %s" % {k[8:]: v for k, v in s.items() if k.startswith("index.t.")})
        rc = env.stop()
        if rc != 0:
            raise Failed("loafred exited %s at SIGTERM" % rc)
        print("operations: %s, %d skipped (object gone); %d checks in %.0f s" % (
            w.done, w.skipped, o.checks, time.monotonic() - T0))
        print("PASS")
        return 0
    except Mismatch as e:
        keep = True
        print("FAIL: loafre differs from GNU find/du %s (seed %d; rerun with "
              "LOAFRE_ORACLE_SEED=%d); tree kept: %s" % (e, seed, seed, env.tree))
        return 1
    except Exception as e:  # noqa: BLE001
        keep = True
        if not isinstance(e, Failed):
            traceback.print_exc()
        print("FAIL: %s (seed %d; rerun with LOAFRE_ORACLE_SEED=%d)" % (e, seed, seed))
        return 1
    finally:
        oplog.close()
        env.cleanup(keep=keep)


if __name__ == "__main__":
    sys.exit(main())
