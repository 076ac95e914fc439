#!/usr/bin/env python3
"""source_ops.py — the local source, record by record (issue 3, §3).

Black-box: starts loafred on an empty temp tree (filesystem "t", MDT
t-MDT0000), performs real file operations, each check in its own
subdirectory, and reads the records they produced with
`loafre changelog --json`. Each check asserts the record types, names,
flags, parent/target FIDs (consistent with the records that created the
objects and with `loafre path2fid`), and that nothing else was written.
The mapping checked is the one in docs/sources.md.

Prints one PASS/FAIL line per check (with the records seen on failure),
then "N passed, M failed". Exit 0 when all passed, 1 otherwise.
Env: LOAFRE, LOAFRED (the built programs); LOAFRE_KEEP=1 keeps the temp dir.
"""
import calendar
import os
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_lib import (CLFE_UIDGID, CLFE_XATTR, ZERO_FID, Env, Failed, Model,  # noqa: E402
                        compare_tree, ef, fmt_recs, need_binaries, rflags)

E = None            # the Env
ROOT_FID = None     # FID of the tree's root (from path2fid, else inferred)
ALL_RECS = []       # every record consumed, for the attribution check
LATENCIES = []      # (check, seconds until its records were readable)
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def P(*parts):
    return os.path.join(E.tree, *parts)


def sh(cmd, cwd=None):
    p = subprocess.run(cmd, shell=isinstance(cmd, str), cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise Failed("command %r failed (%d): %s" % (cmd, p.returncode, p.stderr.strip()))


def take(n, what, timeout=5.0, settle=0.4):
    """Waits for n new records (and the settle time); records latency."""
    recs, seen = E.wait_records(n, timeout=timeout, settle=settle)
    ALL_RECS.extend(recs)
    if seen is not None:
        LATENCIES.append((what, seen))
    return recs


def expect(recs, want, what):
    """recs must be exactly the records described by `want`, in order: a
    list of dicts whose keys are JSON fields (type, name, tfid, pfid, sfid,
    spfid, sname, flags as int, xattr) or callables."""
    def bad(why):
        lines = []
        for w in want:
            lines.append("    " + " ".join(
                "%s=%s" % (k, ("0x%x" % v) if k == "flags" else v) for k, v in w.items()))
        raise Failed("%s: %s\n  records seen:\n%s\n  expected:\n%s"
                     % (what, why, fmt_recs(recs), "\n".join(lines)))
    if len(recs) != len(want):
        bad("%d records, expected %d" % (len(recs), len(want)))
    for i, (r, w) in enumerate(zip(recs, want)):
        for k, v in w.items():
            if k == "flags":
                got = rflags(r)
            elif k == "ef":
                got = ef(r) & v
            else:
                got = r.get(k)
            if got != v:
                bad("record %d: %s is %r, expected %r" % (i + 1, k, got, v))
        if not ef(r) & CLFE_UIDGID or "uid" not in r or "gid" not in r:
            bad("record %d has no uid/gid (ef lacks CLFE_UIDGID)" % (i + 1))


def mksub(name):
    """mkdir tree/name; returns (path, fid) from its MKDIR record."""
    path = P(name)
    os.mkdir(path)
    recs = take(1, "setup mkdir " + name)
    global ROOT_FID
    if ROOT_FID == "?" and len(recs) == 1 and recs[0].get("type") == "MKDIR":
        ROOT_FID = recs[0]["pfid"]  # no path2fid: the root is where we mkdir
        print("note: root FID taken from the first MKDIR: %s" % ROOT_FID)
    expect(recs, [{"type": "MKDIR", "name": name, "pfid": ROOT_FID, "flags": 0}],
           "setup: mkdir %s" % name)
    return path, recs[0]["tfid"]


def setup(n, what):
    """Consumes the n records of a check's setup; returns {(pfid, name): tfid}
    for the namespace records among them."""
    recs = take(n, "setup " + what, settle=0.5)
    if len(recs) < n:
        raise Failed("setup of %s: %d records, expected at least %d:\n%s"
                     % (what, len(recs), n, fmt_recs(recs)))
    fids = {}
    for r in recs:
        if "name" in r and r["type"] not in ("UNLNK", "RMDIR"):
            fids[(r["pfid"], r["name"])] = r["tfid"]
    return fids


def fid_of(fids, pfid, name, what):
    f = fids.get((pfid, name))
    if f is None:
        raise Failed("setup of %s: no record created %s under %s" % (what, name, pfid))
    return f


def write(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)


def new_model():
    """A replay model of the tree as loafred first saw it: the root and the
    pre-existing pre/file (snapshotted silently at the first start)."""
    m = Model(ROOT_FID)
    fpre = E.path2fid(P("pre"))
    m.objs[fpre] = {"type": "dir", "links": {(ROOT_FID, "pre")}}
    m.dent[(ROOT_FID, "pre")] = fpre
    ffile = E.path2fid(P("pre", "file"))
    m.objs[ffile] = {"type": "file", "links": {(fpre, "file")}}
    m.dent[(fpre, "file")] = ffile
    return m


# ---- checks -------------------------------------------------------------------

@check
def snapshot_silent():
    """loafred's first start on an existing tree records nothing (snapshot)."""
    recs = E.records(1)
    if recs:
        raise Failed("first start recorded %d records for the pre-existing tree:\n%s"
                     % (len(recs), fmt_recs(recs)))
    fid = E.path2fid(P("pre", "file"))
    if fid == ZERO_FID:
        raise Failed("path2fid of a pre-existing file gave the zero FID")


@check
def mkdir():
    sub, sf = mksub("c_mkdir")
    os.mkdir(os.path.join(sub, "d"))
    recs = take(1, "mkdir")
    expect(recs, [{"type": "MKDIR", "pfid": sf, "name": "d", "flags": 0}], "mkdir d")
    fid = E.path2fid(os.path.join(sub, "d"))
    if recs[0]["tfid"] != fid:
        raise Failed("MKDIR t=%s but path2fid gives %s" % (recs[0]["tfid"], fid))


@check
def touch_new():
    sub, sf = mksub("c_touch")
    sh(["touch", os.path.join(sub, "f")])
    recs = take(1, "touch")
    # touch creates (open O_CREAT), then sets the times (utimensat) and
    # closes. When a group commit falls between the two, the time change
    # is a separate operation and is recorded as one (MTIME, as Lustre's
    # setattr would); otherwise it is part of the creation. Both describe
    # the operations; no data record (CLOSE) may appear: nothing was written.
    if len(recs) == 2 and recs[1]["type"] == "MTIME" and recs[1]["tfid"] == recs[0]["tfid"]:
        recs = recs[:1]
    expect(recs, [{"type": "CREAT", "pfid": sf, "name": "f", "flags": 0}], "touch f (new)")
    fid = E.path2fid(os.path.join(sub, "f"))
    if recs[0]["tfid"] != fid:
        raise Failed("CREAT t=%s but path2fid gives %s" % (recs[0]["tfid"], fid))


@check
def echo_new():
    sub, sf = mksub("c_echo")
    sh("echo x > newf", cwd=sub)
    recs = take(2, "echo >")
    expect(recs, [{"type": "CREAT", "pfid": sf, "name": "newf", "flags": 0},
                  {"type": "CLOSE"}], "echo x > newf")
    if recs[1]["tfid"] != recs[0]["tfid"]:
        raise Failed("CLOSE t=%s is not the CREAT's t=%s" % (recs[1]["tfid"], recs[0]["tfid"]))


def file_check(name, content, op, want, what):
    """Creates sub/f with content, then runs op(path); expects `want`
    (t = f's FID is added)."""
    sub, sf = mksub(name)
    f = os.path.join(sub, "f")
    write(f, content)
    fids = setup(1, what)
    fid = fid_of(fids, sf, "f", what)
    op(f)
    recs = take(len(want), what)
    expect(recs, [dict(w, tfid=fid) for w in want], what)
    return recs


@check
def append():
    file_check("c_append", "hello\n", lambda f: sh("echo y >> '%s'" % f),
               [{"type": "CLOSE"}], "echo y >> f")


@check
def truncate_shrink():
    file_check("c_trunc", "hello\n", lambda f: sh(["truncate", "-s", "1", f]),
               [{"type": "TRUNC"}], "truncate -s 1 f")


@check
def chmod():
    file_check("c_chmod", "x", lambda f: sh(["chmod", "600", f]),
               [{"type": "SATTR"}], "chmod 600 f")


@check
def chown():
    if os.geteuid() != 0:
        raise Failed("needs root (chown to 1:1)")
    file_check("c_chown", "x", lambda f: sh(["chown", "1:1", f]),
               [{"type": "SATTR"}], "chown 1:1 f")


@check
def touch_d():
    file_check("c_touchd", "x", lambda f: sh(["touch", "-d", "2001-01-01", f]),
               [{"type": "MTIME"}], "touch -d 2001-01-01 f")


@check
def touch_m():
    # `touch -m` (mtime := now) is reported by the kernel exactly like a
    # write: fanotify/inotify deliver MODIFY + CLOSE_WRITE with no ATTRIB
    # (fsnotify_change maps an mtime-only setattr to FS_MODIFY), and a
    # write sets mtime and ctime to the same instant as touch does. The
    # emulated MDT cannot tell them apart and reports the safe CLOSE
    # (consumers re-read the file). An explicit mtime is told apart: see
    # touch_m_date. (Spec deviation from Lustre's MTIME, documented in
    # docs/sources.md.)
    def op(f):
        time.sleep(0.05)  # a visibly different mtime
        sh(["touch", "-m", f])
    file_check("c_touchm", "x", op, [{"type": "CLOSE"}], "touch -m f")


@check
def touch_m_date():
    def op(f):
        sh(["touch", "-m", "-d", "2001-01-01", f])
    file_check("c_touchmd", "x", op, [{"type": "MTIME"}], "touch -m -d 2001-01-01 f")


@check
def utimes_no_open():
    """utimensat(2) without an open for writing (no CLOSE_WRITE event)."""
    file_check("c_utime", "x", lambda f: os.utime(f, (978307200, 978307200)),
               [{"type": "MTIME"}], "utime(f, 2001-01-01)")


@check
def touch_m_no_open():
    """`touch -h -m` sets the mtime with utimensat(2) on the path, without an
    open (atime omitted): FAN_MODIFY alone, no close. An explicit date
    leaves mtime != ctime: MTIME. The mtime set to now cannot be told from
    a truncate(2) to the same size: TRUNC (a deviation, docs/sources.md)."""
    file_check("c_touchhmd", "x", lambda f: sh(["touch", "-h", "-m", "-d", "2001-01-01", f]),
               [{"type": "MTIME"}], "touch -h -m -d 2001-01-01 f")

    def op(f):
        time.sleep(0.05)  # a visibly different mtime
        sh(["touch", "-h", "-m", f])
    file_check("c_touchhm", "x", op, [{"type": "TRUNC"}], "touch -h -m f")


@check
def truncate_grow():
    """truncate(2) growing a file: no close follows; Lustre writes TRUNC."""
    file_check("c_truncg", "hello\n", lambda f: os.truncate(f, 100000),
               [{"type": "TRUNC"}], "truncate(f, 100000) (grow)")


@check
def truncate_same_size():
    """truncate(2) to the size a file already has (an empty file to 0):
    FAN_MODIFY alone, no size change, no close follows; Lustre writes
    TRUNC for it (the mtime moved)."""
    def op0(f):
        time.sleep(0.05)  # a visibly different mtime
        os.truncate(f, 0)
    file_check("c_trunc0", "", op0, [{"type": "TRUNC"}], "truncate(f, 0) (f empty)")

    def op6(f):
        time.sleep(0.05)
        os.truncate(f, 6)
    file_check("c_truncs", "hello\n", op6, [{"type": "TRUNC"}], "truncate(f, 6) (f has 6 bytes)")


@check
def touch_d_dir():
    """utime of a directory: MTIME, as for a file."""
    sub, sf = mksub("c_touchdd")
    d = os.path.join(sub, "d")
    os.mkdir(d)
    fid = fid_of(setup(1, "touch -d dir"), sf, "d", "touch -d dir")
    sh(["touch", "-d", "2001-01-01", d])
    recs = take(1, "touch -d dir")
    expect(recs, [{"type": "MTIME", "tfid": fid}], "touch -d 2001-01-01 d (a directory)")


@check
def dir_transient_entries():
    """Entries created and removed between two looks of the source move the
    directory's mtime: an entry seen has its CREAT + UNLNK pair; entries the
    source never saw (merged in one commit interval, gone before it looked)
    leave an MTIME of the directory, unless a record of the same look names
    the directory as parent. Either way a consumer that re-reads d after
    the records naming it (as p or t) sees its final mtime: the last such
    record comes from a look made after that mtime (its time is the look's)."""
    sub, sf = mksub("c_transient")
    d = os.path.join(sub, "d")
    os.mkdir(d)
    fid = fid_of(setup(1, "transient"), sf, "d", "transient")
    os.utime(d, (978307200, 978307200))  # an old mtime: the next change moves it
    expect(take(1, "transient: utime d"), [{"type": "MTIME", "tfid": fid}], "utime d")
    names = ["t%d" % i for i in range(5)]
    for n in names:
        p = os.path.join(d, n)
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
        os.unlink(p)
    mtime_ns = os.stat(d).st_mtime_ns
    recs = take(1, "transient entries", settle=0.6)
    why = []
    for n in names:
        c = [r for r in recs if r["type"] == "CREAT" and r.get("name") == n]
        u = [r for r in recs if r["type"] == "UNLNK" and r.get("name") == n]
        if len(c) != len(u) or len(c) > 1 or any(r.get("pfid") != fid for r in c + u):
            why.append("%s: %d CREAT, %d UNLNK in d" % (n, len(c), len(u)))
    other = [r for r in recs if r["type"] not in ("CREAT", "UNLNK")
             and not (r["type"] == "MTIME" and r.get("tfid") == fid)]
    if other:
        why.append("unexpected records")
    naming = [r for r in recs if fid in (r.get("pfid"), r.get("tfid"))]
    if not naming:
        why.append("no record names d")
    elif rec_time_ns(naming[-1]) < mtime_ns:
        why.append("the last record naming d is older than d's mtime (%d ns before)"
                   % (mtime_ns - rec_time_ns(naming[-1])))
    if why:
        raise Failed("create+unlink x5 in d: %s\n  records seen:\n%s"
                     % ("; ".join(why), fmt_recs(recs)))


def rec_time_ns(r):
    """A record's time ("2026-11-22T04:50:45.896428055Z") in ns."""
    t = r.get("time", "")
    sec, _, frac = t.rstrip("Z").partition(".")
    return (calendar.timegm(time.strptime(sec, "%Y-%m-%dT%H:%M:%S")) * 10**9
            + int((frac + "000000000")[:9]))


@check
def setxattr():
    def op(f):
        if shutil.which("setfattr"):
            sh(["setfattr", "-n", "user.k", "-v", "v", f])
        else:  # same syscall (setxattr(2)); the attr package is not installed
            os.setxattr(f, "user.k", b"v")
    recs = file_check("c_xattr", "x", op, [{"type": "XATTR", "xattr": "user.k"}],
                      "setfattr -n user.k -v v f")
    if not ef(recs[0]) & CLFE_XATTR:
        raise Failed("XATTR record's ef=%s lacks CLFE_XATTR (0x8)" % recs[0].get("extra_flags"))


@check
def hardlink():
    def op(f):
        os.link(f, os.path.join(os.path.dirname(f), "g"))
    recs = file_check("c_ln", "x", op, [{"type": "HLINK", "name": "g", "flags": 0}], "ln f g")
    sf = E.path2fid(P("c_ln"))
    if recs[0]["pfid"] != sf:
        raise Failed("HLINK p=%s is not the directory's FID %s" % (recs[0]["pfid"], sf))


@check
def hardlink_after_change():
    """chmod, or an append, right before `ln`: the link's HLINK and the
    change's own record (usually seen in one look; either order)."""
    for sub, op, want in (("c_lnchmod", lambda f: os.chmod(f, 0o600), "SATTR"),
                          ("c_lnappend", lambda f: write(f, "more", "a"), "CLOSE")):
        def op2(f, op=op):
            time.sleep(0.05)  # a visibly different mtime
            op(f)
            os.link(f, os.path.join(os.path.dirname(f), "g"))
        sub_path, sf = mksub(sub)
        f = os.path.join(sub_path, "f")
        write(f, "x")
        fid = fid_of(setup(1, sub), sf, "f", sub)
        op2(f)
        what = "%s; ln f g" % ("chmod 600 f" if want == "SATTR" else "echo more >> f")
        recs = take(2, what)
        if sorted(r.get("type") for r in recs) != sorted(["HLINK", want]):
            raise Failed("%s: expected HLINK and %s, in either order; records seen:\n%s"
                         % (what, want, fmt_recs(recs)))
        for r in recs:
            if r.get("tfid") != fid:
                raise Failed("%s: record t=%s is not f's FID %s:\n%s"
                             % (what, r.get("tfid"), fid, fmt_recs(recs)))


@check
def symlink():
    sub, sf = mksub("c_slink")
    write(os.path.join(sub, "f"), "x")
    fid_f = fid_of(setup(1, "ln -s"), sf, "f", "ln -s")
    os.symlink("f", os.path.join(sub, "s"))
    recs = take(1, "ln -s")
    expect(recs, [{"type": "SLINK", "pfid": sf, "name": "s", "flags": 0}], "ln -s f s")
    t = recs[0]["tfid"]
    if t in (ZERO_FID, fid_f):
        raise Failed("SLINK t=%s: expected the symlink's own FID (f is %s)" % (t, fid_f))
    fid = E.path2fid(os.path.join(sub, "s"))
    if fid != t:
        raise Failed("SLINK t=%s but path2fid(s) gives %s (path2fid must not follow "
                     "the link, as lfs path2fid)" % (t, fid))


@check
def path2fid_dangling_symlink():
    """path2fid does not follow symlinks (as lfs path2fid: O_NOFOLLOW), so a
    dangling one has a FID too: the SLINK's t."""
    sub, sf = mksub("c_dangling")
    os.symlink("nowhere", os.path.join(sub, "s"))
    recs = take(1, "ln -s nowhere s")
    expect(recs, [{"type": "SLINK", "pfid": sf, "name": "s", "flags": 0}], "ln -s nowhere s")
    fid = E.path2fid(os.path.join(sub, "s"))
    if fid != recs[0]["tfid"]:
        raise Failed("path2fid(s)=%s, SLINK t=%s" % (fid, recs[0]["tfid"]))


@check
def mkfifo():
    sub, sf = mksub("c_mkfifo")
    os.mkfifo(os.path.join(sub, "p"))
    recs = take(1, "mkfifo")
    expect(recs, [{"type": "MKNOD", "pfid": sf, "name": "p", "flags": 0}], "mkfifo p")


@check
def mv_same_dir():
    sub, sf = mksub("c_mv")
    write(os.path.join(sub, "f"), "x")
    fid = fid_of(setup(1, "mv f h"), sf, "f", "mv f h")
    sh(["mv", os.path.join(sub, "f"), os.path.join(sub, "h")])
    recs = take(1, "mv f h")
    expect(recs, [{"type": "RENME", "flags": 0, "tfid": ZERO_FID, "pfid": sf, "name": "h",
                   "sfid": fid, "spfid": sf, "sname": "f"}], "mv f h")
    got = E.path2fid(os.path.join(sub, "h"))
    if got != fid:
        raise Failed("after mv, path2fid(h)=%s, expected the renamed object's %s" % (got, fid))


@check
def mv_other_dir():
    sub, sf = mksub("c_mvdir")
    os.mkdir(os.path.join(sub, "a"))
    os.mkdir(os.path.join(sub, "b"))
    write(os.path.join(sub, "a", "f"), "x")
    fids = setup(3, "mv a/f b/h")
    fa, fb = fid_of(fids, sf, "a", "mv"), fid_of(fids, sf, "b", "mv")
    fid = fid_of(fids, fa, "f", "mv")
    sh(["mv", os.path.join(sub, "a", "f"), os.path.join(sub, "b", "h")])
    recs = take(1, "mv a/f b/h")
    expect(recs, [{"type": "RENME", "flags": 0, "tfid": ZERO_FID, "pfid": fb, "name": "h",
                   "sfid": fid, "spfid": fa, "sname": "f"}], "mv a/f b/h")


@check
def mv_over_last():
    sub, sf = mksub("c_mvover")
    write(os.path.join(sub, "f"), "new")
    write(os.path.join(sub, "v"), "old")
    fids = setup(2, "mv over")
    ff, fv = fid_of(fids, sf, "f", "mv over"), fid_of(fids, sf, "v", "mv over")
    sh(["mv", os.path.join(sub, "f"), os.path.join(sub, "v")])
    recs = take(1, "mv f v (over)")
    expect(recs, [{"type": "RENME", "flags": 0x1, "tfid": fv, "pfid": sf, "name": "v",
                   "sfid": ff, "spfid": sf, "sname": "f"}],
           "mv f v (v existed, its last link: CLF_RENAME_LAST)")


@check
def mv_over_linked():
    sub, sf = mksub("c_mvover2")
    write(os.path.join(sub, "f"), "new")
    write(os.path.join(sub, "v"), "old")
    os.link(os.path.join(sub, "v"), os.path.join(sub, "v2"))
    fids = setup(3, "mv over linked")
    ff, fv = fid_of(fids, sf, "f", "mv over"), fid_of(fids, sf, "v", "mv over")
    sh(["mv", os.path.join(sub, "f"), os.path.join(sub, "v")])
    recs = take(1, "mv f v (over, v2 remains)")
    expect(recs, [{"type": "RENME", "flags": 0x0, "tfid": fv, "pfid": sf, "name": "v",
                   "sfid": ff, "spfid": sf, "sname": "f"}],
           "mv f v (v has another link v2: no CLF_RENAME_LAST)")


@check
def mv_dir_across():
    sub, sf = mksub("c_mvtree")
    for d in ("a", "b", "a/d", "a/d/y"):
        os.mkdir(os.path.join(sub, d))
    write(os.path.join(sub, "a/d/x"), "x")
    write(os.path.join(sub, "a/d/y/z"), "z")
    fids = setup(6, "mv dir")
    fa, fb = fid_of(fids, sf, "a", "mv dir"), fid_of(fids, sf, "b", "mv dir")
    fd = fid_of(fids, fa, "d", "mv dir")
    sh(["mv", os.path.join(sub, "a/d"), os.path.join(sub, "b/d2")])
    recs = take(1, "mv a/d b/d2", settle=0.8)
    expect(recs, [{"type": "RENME", "flags": 0, "tfid": ZERO_FID, "pfid": fb, "name": "d2",
                   "sfid": fd, "spfid": fa, "sname": "d"}],
           "mv a/d b/d2 (a directory with children: one record)")
    got = E.path2fid(os.path.join(sub, "b/d2/y/z"))
    want = fid_of(fids, fid_of(fids, fd, "y", "mv dir"), "z", "mv dir")
    if got != want:
        raise Failed("a child's FID changed with its directory's move: %s -> %s" % (want, got))


@check
def rm_one_of_two_links():
    sub, sf = mksub("c_rmlink")
    write(os.path.join(sub, "f"), "x")
    os.link(os.path.join(sub, "f"), os.path.join(sub, "g"))
    fids = setup(2, "rm g")
    fid = fid_of(fids, sf, "f", "rm g")
    sh(["rm", os.path.join(sub, "g")])
    recs = take(1, "rm g")
    expect(recs, [{"type": "UNLNK", "flags": 0, "tfid": fid, "pfid": sf, "name": "g"}],
           "rm g (f remains: no CLF_UNLINK_LAST)")


@check
def rm_last():
    sub, sf = mksub("c_rm")
    write(os.path.join(sub, "f"), "x")
    fid = fid_of(setup(1, "rm f"), sf, "f", "rm f")
    sh(["rm", os.path.join(sub, "f")])
    recs = take(1, "rm f")
    expect(recs, [{"type": "UNLNK", "flags": 0x1, "tfid": fid, "pfid": sf, "name": "f"}],
           "rm f (its last link: CLF_UNLINK_LAST)")


@check
def rmdir():
    sub, sf = mksub("c_rmdir")
    os.mkdir(os.path.join(sub, "d"))
    fid = fid_of(setup(1, "rmdir"), sf, "d", "rmdir")
    os.rmdir(os.path.join(sub, "d"))
    recs = take(1, "rmdir")
    expect(recs, [{"type": "RMDIR", "flags": 0, "tfid": fid, "pfid": sf, "name": "d"}], "rmdir d")


@check
def rm_rf():
    sub, sf = mksub("c_rmrf")
    r = os.path.join(sub, "r")
    for d in ("", "a", "b", "b/c"):
        os.mkdir(os.path.join(r, d))
    for f in ("a/1", "a/2", "b/c/3"):
        write(os.path.join(r, f), f)
    os.symlink("a/1", os.path.join(r, "l"))
    os.link(os.path.join(r, "a/1"), os.path.join(r, "b/h"))
    os.mkfifo(os.path.join(r, "b/p"))
    n_entries = 10  # r a b c 1 2 3 l h p
    fids = setup(n_entries, "rm -rf")
    dirs = {fid for (p, n), fid in fids.items() if n in ("r", "a", "b", "c")}
    sh(["rm", "-rf", r])
    recs = take(n_entries, "rm -rf", timeout=8, settle=0.8)
    if len(recs) != n_entries:
        raise Failed("rm -rf of %d entries gave %d records:\n%s" % (n_entries, len(recs),
                                                                     fmt_recs(recs)))
    seen = set()
    removed_at = {}
    for i, rec in enumerate(recs):
        key = (rec.get("pfid"), rec.get("name"))
        if key not in fids:
            raise Failed("record %d removes an entry the tree did not have:\n%s"
                         % (i + 1, fmt_recs(recs)))
        if key in seen:
            raise Failed("entry %s/%s removed twice:\n%s" % (key[0], key[1], fmt_recs(recs)))
        seen.add(key)
        want_t = "RMDIR" if fids[key] in dirs else "UNLNK"
        if rec["type"] != want_t or rec["tfid"] != fids[key]:
            raise Failed("record %d: expected %s t=%s for %s:\n%s"
                         % (i + 1, want_t, fids[key], key[1], fmt_recs(recs)))
        removed_at[rec["tfid"]] = i
    for i, rec in enumerate(recs):
        p = rec["pfid"]
        if p in removed_at and removed_at[p] < i:
            raise Failed("record %d removes a child after its parent's RMDIR:\n%s"
                         % (i + 1, fmt_recs(recs)))
    # the hard-linked file: first unlink 0x0, second 0x1; every other UNLNK 0x1
    f1 = fid_of(fids, fid_of(fids, fid_of(fids, sf, "r", "rm"), "a", "rm"), "1", "rm")
    for rec in recs:
        if rec["type"] == "UNLNK" and rec["tfid"] != f1 and rflags(rec) != 0x1:
            raise Failed("UNLNK of a single-link entry without CLF_UNLINK_LAST:\n%s"
                         % fmt_recs(recs))
        if rec["type"] == "RMDIR" and rflags(rec) != 0:
            raise Failed("RMDIR with flags:\n%s" % fmt_recs(recs))
    fl = [rflags(rec) for rec in recs if rec["tfid"] == f1]
    if fl != [0x0, 0x1]:
        raise Failed("the two links of a/1 (= b/h) were removed with flags %s, expected "
                     "[0x0, 0x1]:\n%s" % (["0x%x" % x for x in fl], fmt_recs(recs)))


@check
def fid2path():
    sub, sf = mksub("c_fid2path")
    os.mkdir(os.path.join(sub, "d"))
    write(os.path.join(sub, "d", "f"), "x")
    fids = setup(2, "fid2path")
    fd = fid_of(fids, sf, "d", "fid2path")
    ff = fid_of(fids, fd, "f", "fid2path")
    for fid, rel in ((ff, "c_fid2path/d/f"), (fd, "c_fid2path/d"), (sf, "c_fid2path")):
        got = E.fid2path(fid)
        ok = {os.path.join(E.tree, rel), rel, "/" + rel}
        if got not in ok:
            raise Failed("fid2path %s printed %r, expected %s (or the path relative "
                         "to the tree)" % (fid, got, os.path.join(E.tree, rel)))
        if E.path2fid(os.path.join(E.tree, rel)) != fid:
            raise Failed("path2fid %s != %s" % (rel, fid))


@check
def restart_catchup():
    """Changes made while loafred is stopped appear after restart, after the
    earlier records, exactly one record per change, replaying to the tree."""
    sub, sf = mksub("c_restart")
    s = lambda *p: os.path.join(sub, *p)  # noqa: E731
    for d in ("rd", "other"):
        os.mkdir(s(d))
    for f, c in (("keep", "k"), ("mod", "m"), ("ch", "c"), ("ren", "r"), ("del", "d"),
                 ("rd/x", "x")):
        write(s(f), c)
    fids = setup(8, "restart")
    F = {n: fid_of(fids, sf, n, "restart") for n in ("rd", "other", "keep", "mod", "ch",
                                                      "ren", "del")}
    keep_before = E.path2fid(s("keep"))
    last_before = E.last
    rc = E.stop()
    if rc != 0:
        raise Failed("loafred exited %s on SIGTERM" % rc)
    # While stopped.
    sh(["touch", s("new")])
    time.sleep(0.02)
    write(s("mod"), "more\n", "a")
    os.chmod(s("ch"), 0o600)
    os.rename(s("ren"), s("other", "ren2"))
    os.rename(s("rd"), s("other", "rd2"))
    os.unlink(s("del"))
    E.start()
    recs = E.quiesce(quiet=1.0, timeout=15, at_least=6)
    ALL_RECS.extend(recs)
    if any(r["index"] <= last_before for r in recs):
        raise Failed("records at or below the index before the stop:\n%s" % fmt_recs(recs))
    why = []
    by = {}
    for r in recs:
        by.setdefault((r["type"], r.get("tfid") if r["type"] != "RENME" else r.get("sfid")),
                      []).append(r)
    new = [r for r in recs if r["type"] == "CREAT"]
    if len(new) != 1 or new[0].get("name") != "new" or new[0].get("pfid") != sf:
        why.append("expected one CREAT of 'new' in the directory")
    mod = [r for r in recs if r.get("tfid") == F["mod"]]
    if len(mod) != 1 or mod[0]["type"] not in ("CLOSE", "MTIME"):
        why.append("expected one CLOSE (or MTIME) for the appended 'mod' %s" % F["mod"])
    ch = [r for r in recs if r.get("tfid") == F["ch"]]
    if [r["type"] for r in ch] != ["SATTR"]:
        why.append("expected one SATTR for the chmodded 'ch' %s" % F["ch"])
    for n, nn in (("ren", "ren2"), ("rd", "rd2")):
        rr = [r for r in recs if r.get("sfid") == F[n]]
        if (len(rr) != 1 or rr[0]["type"] != "RENME" or rr[0].get("pfid") != F["other"]
                or rr[0].get("name") != nn or rr[0].get("spfid") != sf
                or rr[0].get("sname") != n or rr[0].get("tfid") != ZERO_FID):
            why.append("expected one RENME of %s %s -> other/%s" % (n, F[n], nn))
    dl = [r for r in recs if r.get("tfid") == F["del"]]
    if (len(dl) != 1 or dl[0]["type"] != "UNLNK" or rflags(dl[0]) != 1
            or dl[0].get("name") != "del"):
        why.append("expected one UNLNK 0x1 of 'del' %s" % F["del"])
    if len(recs) != 6:
        why.append("expected exactly 6 records, got %d" % len(recs))
    if why:
        raise Failed("after restart: %s\n  records seen:\n%s" % ("; ".join(why), fmt_recs(recs)))
    # Replays to the tree: rebuild this subtree from all its records.
    m = new_model()
    for r in E.records(1):
        m.apply(r)
    diffs = compare_tree(m, E.tree)
    if m.errors or diffs:
        raise Failed("replaying the whole journal: %s %s" % (m.errors[:10], diffs))
    if E.path2fid(s("keep")) != keep_before:
        raise Failed("the FID of an untouched file changed across the restart")
    if E.path2fid(s("other", "ren2")) != F["ren"]:
        raise Failed("the FID of a file renamed while stopped changed across the restart")
    # Live again after the restart.
    write(s("after"), "a")
    recs = take(2, "after restart")
    expect(recs[:1], [{"type": "CREAT", "name": "after", "pfid": sf}],
           "a create after the restart")


@check
def restart_moves_out_of_removed_dir():
    """While stopped: mv d/f e/f; mkdir n; mv d/sub n/sub; rmdir d. After the
    restart: MKDIR n, one RENME each for f and sub (nothing for sub's
    contents), then RMDIR d — never a removal and a creation of an object
    that still lives (Lustre records a move as RENME; the FID is kept)."""
    sub, sf = mksub("c_restart_mvout")
    s = lambda *p: os.path.join(sub, *p)  # noqa: E731
    for d in ("d", "d/sub", "e"):
        os.mkdir(s(d))
    write(s("d", "f"), "f")
    write(s("d", "sub", "x"), "x")
    fids = setup(7, "restart mvout")
    fd = fid_of(fids, sf, "d", "restart mvout")
    fe = fid_of(fids, sf, "e", "restart mvout")
    ff = fid_of(fids, fd, "f", "restart mvout")
    fsub = fid_of(fids, fd, "sub", "restart mvout")
    fx = fid_of(fids, fsub, "x", "restart mvout")
    rc = E.stop()
    if rc != 0:
        raise Failed("loafred exited %s on SIGTERM" % rc)
    os.rename(s("d", "f"), s("e", "f"))
    os.mkdir(s("n"))
    os.rename(s("d", "sub"), s("n", "sub"))
    os.rmdir(s("d"))
    E.start()
    recs = E.quiesce(quiet=1.0, timeout=15, at_least=4)
    ALL_RECS.extend(recs)
    why = []
    types = [r["type"] for r in recs]
    if sorted(types) != ["MKDIR", "RENME", "RENME", "RMDIR"]:
        why.append("expected MKDIR, RENME x2, RMDIR")
    else:
        mk = [r for r in recs if r["type"] == "MKDIR"][0]
        rf = [r for r in recs if r.get("sfid") == ff]
        rs = [r for r in recs if r.get("sfid") == fsub]
        if mk.get("name") != "n" or mk.get("pfid") != sf:
            why.append("MKDIR is not n in the directory")
        if (len(rf) != 1 or rf[0].get("pfid") != fe or rf[0].get("spfid") != fd
                or rf[0].get("name") != "f" or rf[0].get("tfid") != ZERO_FID):
            why.append("expected RENME of f %s: d/f -> e/f" % ff)
        if (len(rs) != 1 or rs[0].get("pfid") != mk["tfid"] or rs[0].get("spfid") != fd
                or rs[0].get("name") != "sub"):
            why.append("expected RENME of sub %s: d/sub -> n/sub" % fsub)
        if recs[-1]["type"] != "RMDIR" or recs[-1].get("tfid") != fd:
            why.append("expected RMDIR d %s last" % fd)
        if rs and types.index("MKDIR") > recs.index(rs[0]):
            why.append("RENME into n before its MKDIR")
    if why:
        raise Failed("after restart: %s\n  records seen:\n%s" % ("; ".join(why), fmt_recs(recs)))
    if E.path2fid(s("n", "sub", "x")) != fx:
        raise Failed("the FID of n/sub/x changed across the move while stopped")


@check
def replay_all():
    """Replaying every record from the start gives the live tree."""
    m = new_model()
    for r in E.records(1):
        m.apply(r)
    diffs = compare_tree(m, E.tree)
    if m.errors or diffs:
        raise Failed("model errors:\n  %s\ndifferences:\n  %s"
                     % ("\n  ".join(m.errors[:20]), "\n  ".join(diffs)))


@check
def uidgid():
    """Every record carries CLFE_UIDGID; ops by root on root's files: u=0:0."""
    bad = [r for r in ALL_RECS if not ef(r) & CLFE_UIDGID or "uid" not in r]
    if bad:
        raise Failed("%d records without uid/gid:\n%s" % (len(bad), fmt_recs(bad[:20])))
    if os.geteuid() == 0:
        bad = [r for r in ALL_RECS if (r.get("uid"), r.get("gid")) != (0, 0)
               and r["type"] != "SATTR"]
        if bad:
            raise Failed("records of root's operations with u other than 0:0:\n%s"
                         % fmt_recs(bad[:20]))
    if not ALL_RECS:
        raise Failed("no records at all")


@check
def latency():
    """Every check's records were readable within 2 s (generous; the
    100 ms target is measured by `loafre bench watch`)."""
    if not LATENCIES:
        raise Failed("no records were ever seen")
    worst = max(LATENCIES, key=lambda x: x[1])
    print("  latency: %d waits, median %.3f s, max %.3f s (%s)"
          % (len(LATENCIES), sorted(x[1] for x in LATENCIES)[len(LATENCIES) // 2],
             worst[1], worst[0]))
    if worst[1] > 2.0:
        raise Failed("records for '%s' took %.2f s" % worst)


def main():
    global E, ROOT_FID
    need_binaries()
    E = Env()
    passed = failed = 0
    try:
        os.mkdir(P("pre"))
        write(P("pre", "file"), "pre-existing")
        try:
            E.start()
        except Failed as e:
            print("FAIL: start: %s" % e)
            print("0 passed, %d failed" % (len(CHECKS)))
            return 1
        try:
            ROOT_FID = E.path2fid(E.tree)
        except Failed as e:
            print("note: root FID unknown (%s); checks that need it will fail" % e)
            ROOT_FID = "?"
        time.sleep(1.0)  # anything the first start would record
        for fn in CHECKS:
            name = fn.__name__
            t0 = time.monotonic()
            try:
                fn()
                passed += 1
                print("PASS %s (%.1f s)" % (name, time.monotonic() - t0))
            except Failed as e:
                failed += 1
                print("FAIL %s: %s" % (name, e))
            except Exception:
                failed += 1
                print("FAIL %s: exception\n%s" % (name, traceback.format_exc()))
            sys.stdout.flush()
            if E.proc is None or E.proc.poll() is not None:
                print("note: loafred is not running (after %s); restarting it; log tail:\n%s"
                      % (name, E.log_text()[-2000:]))
                E.proc = None
                try:
                    E.start()
                except Failed as e:
                    print("FAIL: restart: %s" % e)
                    failed += len(CHECKS) - passed - failed
                    break
        rc = E.stop()
        if rc != 0:
            failed += 1
            print("FAIL stop: loafred exited %s on SIGTERM" % rc)
    finally:
        if failed:
            log = E.log_text()
            print("--- daemon log (tail) ---\n%s" % log[-4000:])
        E.cleanup()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
