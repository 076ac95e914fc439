# index_query.py — the index query commands (issue 5) against the real
# tools on the same tree: `loafre find` vs GNU find, `loafre du` vs GNU du,
# `loafre locate` and `loafre report` vs sums computed here with os.lstat,
# `loafre quota` states, fid2path/path2fid from the index, and the one-line
# errors (no filesystem, no [index], index not created, unreadable, locked).
#
# No loafred: a temp tree, a config with [filesystem t] + [index t], then
# `loafre scan t` loads the index. Python 3 stdlib only; needs LOAFRE.
# Runs as root for owners, device files and -nouser (skipped otherwise).
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time

LOAFRE = os.environ.get("LOAFRE", "")
os.environ["LC_ALL"] = "C"   # GNU find's and du's messages with plain quotes
ROOT = os.geteuid() == 0
DAY = 86400

failures = []
checks = 0


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        fail(msg)
    return cond


def run(args, cwd=None, input=None, timeout=120):
    p = subprocess.run(args, cwd=cwd, input=input, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Env:
    pass


E = Env()


def lf(*args, cwd=None, conf=None, timeout=120):
    return run([LOAFRE, "-c", conf or E.conf] + list(args), cwd=cwd, timeout=timeout)


# ---- the tree ------------------------------------------------------------------

def write(path, n, data=None):
    with open(path, "wb") as f:
        if data is not None:
            f.write(data)
        elif n:
            f.write(os.urandom(n))


def build_tree(t):
    now = time.time()
    m = os.path.join(t, "main")
    for d in ["", "d1", "d1/sub", "d1/sub/deep", "d2", "d2/sub", "empty_dir", "D3",
              "D3/inner"]:
        os.makedirs(os.path.join(m, d), exist_ok=True)
    write(f"{m}/f1.c", 100)
    write(f"{m}/f2.h", 0)
    write(f"{m}/README.TXT", 5000)
    write(f"{m}/with space.c", 10)
    write(f"{m}/ref", 7)
    write(f"{m}/d1/a.c", 1)
    write(f"{m}/d1/b.txt", 4096)
    write(f"{m}/d1/sub/file1", 123456)
    with open(f"{m}/d1/sub/deep/file2", "wb") as f:   # sparse: 1 MiB, few blocks
        f.truncate(1 << 20)
    write(f"{m}/d2/x.c", 33)
    write(f"{m}/d2/big.bin", 1536 * 1024)
    write(f"{m}/d2/sub/y", 300 * 1024)
    write(f"{m}/D3/inner/Mixed.Txt", 2048)
    write(f"{m}/D3/file3", 31)
    write(f"{m}/D3/file32", 32)
    # hard links within one directory (du listings stay comparable)
    os.link(f"{m}/d1/a.c", f"{m}/d1/a_link.c")
    os.link(f"{m}/d2/x.c", f"{m}/d2/x2")
    os.link(f"{m}/d2/x.c", f"{m}/d2/x3")
    # symlinks: to a file, to a dir, dangling, a loop, to a symlink
    os.symlink("f1.c", f"{m}/l_file")
    os.symlink("d1", f"{m}/l_dir")
    os.symlink("nowhere/target", f"{m}/l_dangling")
    os.symlink("l_loop", f"{m}/d2/l_loop")
    os.symlink("l_file", f"{m}/l_link")
    os.mkfifo(f"{m}/d2/fifo")
    if ROOT:
        os.mknod(f"{m}/d2/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    # cross-directory hard links (du -s only)
    c = os.path.join(t, "cross")
    for d in ["a", "b", "c", "c/deep"]:
        os.makedirs(os.path.join(c, d), exist_ok=True)
    write(f"{c}/a/x", 50000)
    os.link(f"{c}/a/x", f"{c}/b/y")
    os.link(f"{c}/a/x", f"{c}/c/deep/w")
    write(f"{c}/b/z", 100)
    write(f"{c}/c/p", 9000)
    os.link(f"{c}/c/p", f"{c}/a/q")
    write(f"{c}/solo", 12345)
    # owners, modes
    if ROOT:
        os.chown(f"{m}/d2/x.c", 1000, 1001)
        os.chown(f"{m}/d1/b.txt", 1000, 100)
        os.chown(f"{m}/d2/sub", 65534, 65534)
        os.chown(f"{m}/d2/sub/y", 65534, 65534)
        os.chown(f"{m}/d1/sub/file1", 4242, 4243)     # no such user or group
        os.lchown(f"{m}/l_file", 1000, 1000)
        os.chown(f"{c}/c/p", 1000, 1000)
    os.chmod(f"{m}/f1.c", 0o644)
    os.chmod(f"{m}/d1/a.c", 0o755)
    os.chmod(f"{m}/README.TXT", 0o600)
    os.chmod(f"{m}/d2/big.bin", 0o4755)
    os.chmod(f"{m}/d1/b.txt", 0o666)
    os.chmod(f"{m}/D3", 0o2775)
    # times: files first (half-days away from find's day boundaries), then
    # directories bottom-up with an atime after their ctime (in the future):
    # relatime leaves it alone when scan, find or du read the directory
    ft = {
        "main/f1.c": (now - 20.5 * DAY, now - 0.5 * DAY),
        "main/f2.h": (now - 1.5 * DAY, now - 2.5 * DAY),
        "main/README.TXT": (now - 30.5 * DAY, now - 10.5 * DAY),
        "main/d1/b.txt": (now - 400.5 * DAY, now - 400.5 * DAY),
        "main/ref": (now - 1.5 * DAY, now - 1.5 * DAY),
        "main/d2/big.bin": (now - 3.5 * DAY, now - 3.5 * DAY),
        "main/D3/file3": (now - 0.02 * DAY, now - 0.02 * DAY),
        "cross/solo": (now - 5000.5 * DAY, now - 5000.5 * DAY),
    }
    for rel, (a, mt) in ft.items():
        os.utime(os.path.join(t, rel), (a, mt))
    # (a symlink's atime changes when it is read, unless it is after its ctime)
    os.utime(f"{m}/l_file", (now + 3600, now - 6.5 * DAY), follow_symlinks=False)
    dirs = []
    for dp, dn, fn in os.walk(t):
        dirs.append(dp)
    for i, dp in enumerate(sorted(dirs, key=lambda p: -p.count("/"))):
        st = os.lstat(dp)
        os.utime(dp, (now + 3600 + i * 0.001, st.st_mtime - 7200))


def lstat_all(top):
    """Every link below top (top included): (relpath, lstat)."""
    out = [("", os.lstat(top))]
    for dp, dn, fn in os.walk(top):
        for n in dn + fn:
            p = os.path.join(dp, n)
            out.append((os.path.relpath(p, top), os.lstat(p)))
    return out


# ---- find ---------------------------------------------------------------------------

def norm_ls(lines):
    return sorted(b" ".join(l.split()) for l in lines)


def cmp_find(starts, expr, cwd=None, how="lines", name=None):
    cwd = cwd or E.tree
    r1 = lf("find", *starts, *expr, cwd=cwd)
    r2 = run(["find", *starts, *expr], cwd=cwd)
    label = name or "find %s %s" % (" ".join(starts), " ".join(expr))
    check(r1[0] == r2[0], "%s: exit %d, GNU find %d (%s)" % (label, r1[0], r2[0],
                                                            r1[2].decode(errors="replace")))
    e1 = r1[2].replace(b"loafre find:", b"find:")
    check(e1 == r2[2], "%s: stderr %r, GNU %r" % (label, e1, r2[2]))
    if how == "lines":
        a, b = sorted(r1[1].splitlines()), sorted(r2[1].splitlines())
    elif how == "ls":
        a, b = norm_ls(r1[1].splitlines()), norm_ls(r2[1].splitlines())
    elif how == "nul":
        a, b = sorted(r1[1].split(b"\0")), sorted(r2[1].split(b"\0"))
    elif how == "count":
        a, b = len(r1[1].splitlines()), len(r2[1].splitlines())
    if not check(a == b, "%s: output differs from GNU find" % label):
        sa, sb = set(a) if how != "count" else set(), set(b) if how != "count" else set()
        print("  only loafre: %r\n  only GNU: %r" % (sorted(sa - sb)[:10], sorted(sb - sa)[:10]))
    return r1


def test_find():
    t = E.tree
    ino = os.lstat(f"{t}/main/d1/sub/file1").st_ino
    fstype = run(["find", t, "-maxdepth", "0", "-printf", "%F"])[1].decode()
    exprs = [
        [], ["-print"], ["-name", "*.c"], ["-iname", "*.txt"], ["-name", "file?"],
        ["-name", "[ab]*"], ["-name", "f1.c"], ["-name", "*space*"], ["-name", "no-such"],
        ["-path", "./main/d1*"], ["-ipath", "*SUB*"], ["-wholename", "*/deep/*"],
        ["-regex", r".*/f[0-9]\.[ch]"], ["-regextype", "posix-extended", "-regex",
                                          r".*/(a|b)[^/]*"], ["-iregex", ".*mixed.*"],
        ["-type", "f"], ["-type", "d"], ["-type", "l"], ["-type", "p"], ["-type", "f,l"],
        ["!", "-type", "d"],
        # GNU reports the looping symlink when -xtype evaluates it: keep it out
        ["!", "-name", "l_loop", "-xtype", "l"], ["!", "-name", "l_loop", "-xtype", "d"],
        ["!", "-name", "l_loop", "-xtype", "f"],
        ["-empty"], ["-empty", "-type", "d"], ["-size", "0"], ["-size", "+4k"],
        ["-size", "-2"], ["-size", "100c"], ["-size", "+1M"], ["-size", "-1M", "-type", "f"],
        ["-size", "+30c", "-size", "-33c"], ["-links", "2"], ["-links", "+1", "-type", "f"],
        ["-inum", str(ino)], ["-samefile", "main/d2/x.c"], ["-newer", "main/ref"],
        ["-anewer", "main/ref"], ["-cnewer", "main/ref"],
        ["-mtime", "+2"], ["-mtime", "-1"], ["-mtime", "0"], ["-mmin", "-60"],
        ["-atime", "+5"], ["-amin", "+100"], ["-ctime", "-1"], ["-daystart", "-mtime", "1"],
        ["-newermt", "2020-01-01"], ["-perm", "644"], ["-perm", "-u+x"], ["-perm", "/o+w"],
        ["-perm", "-4000"], ["-perm", "/g+s", "-type", "d"], ["-maxdepth", "1"],
        ["-mindepth", "2", "-maxdepth", "3"], ["-depth"], ["-depth", "-name", "*.c"],
        ["-name", "sub", "-prune", "-o", "-print"],
        ["-path", "./main/d1", "-prune", "-o", "-type", "f", "-print"],
        ["(", "-name", "*.c", "-o", "-name", "*.h", ")", "-a", "!", "-empty"],
        ["-not", "-type", "d", "-not", "-type", "f"], ["-name", "*.c", ",", "-name", "*.h"],
        ["-lname", "*target*"], ["-ilname", "F1*"], ["-xdev", "-type", "d"],
        ["-true"], ["-false"], ["-fstype", fstype], ["-fstype", "nfs"],
        ["-printf", r"%p %s %m %M %u %g %U %G %y %n\n"],
        ["-printf", r"%P|%h|%f|%d|%k|%b|%i|%D\n"],
        ["-type", "f", "-printf", r"%t|%a|%c\n"],
        ["-printf", r"%TY-%Tm-%Td %TH:%TM:%TS %T@ %A@\n"],
        ["-type", "l", "-printf", r"%l\n"], ["-printf", r"%Y %y %p\n"],
        ["-printf", r"%-10s|%10f|%.3p\n"], ["-print0"], ["-name", "*.c", "-print", "-print"],
        ["-name", "main", "-prune"], ["-maxdepth", "0"],
    ]
    if ROOT:
        exprs += [["-user", "root", "-type", "f"], ["-uid", "1000"], ["-gid", "1001"],
                  ["-group", "users"], ["-nouser"], ["-nogroup"], ["-user", "1000", "-o",
                                                                   "-user", "65534"],
                  ["-uid", "+999"], ["-type", "c"]]
    for e in exprs:
        how = "nul" if "-print0" in e else "lines"
        cmp_find(["."], e, how=how)
    # -ls (column widths depend on the order: compare blank-normalized)
    cmp_find(["."], ["-ls"], how="ls")
    cmp_find(["main"], ["-type", "f", "-ls"], how="ls")
    # -quit: GNU stops at its first entry in readdir order; compare the count
    cmp_find(["."], ["-type", "f", "-name", "*.c", "-quit"], how="count")
    cmp_find(["."], ["-name", "*.c", "-print", "-quit"], how="count")
    # start paths: a subdirectory, trailing slashes, absolute, several, a file,
    # a symlink (not followed), the current directory from below
    cmp_find(["main"], ["-name", "*.c"])
    cmp_find(["main/"], [])
    cmp_find(["./main//"], ["-type", "d"])
    cmp_find([t + "/main/d1"], [])
    cmp_find([t], ["-name", "x*"])
    cmp_find(["main/d1", "main/d2", "cross"], ["-type", "f"])
    cmp_find(["main/f1.c"], [])
    cmp_find(["main/l_dir"], [])
    cmp_find(["main/d1/sub"], ["-size", "+100k"])   # a small subtree with a select hint
    cmp_find(["."], [], cwd=t + "/main/d2")
    cmp_find([".."], ["-name", "*.c"], cwd=t + "/main/d2")
    # -count (loafre's): the number of entries the expression matched
    r = lf("find", ".", "-name", "*.c", "-count", cwd=t)
    n = len(run(["find", ".", "-name", "*.c"], cwd=t)[1].splitlines())
    check(r[0] == 0 and r[1].strip() == str(n).encode(), "find -count: %r, expected %d" %
          (r[1], n))
    # --json: one object per match
    r = lf("find", "--json", "main/d2", "-type", "f", cwd=t)
    objs = [json.loads(l) for l in r[1].splitlines()]
    gnu = sorted(run(["find", "main/d2", "-type", "f"], cwd=t)[1].decode().splitlines())
    check(sorted(o["path"] for o in objs) == gnu, "find --json paths %r" % objs)
    for o in objs:
        st = os.lstat(os.path.join(t, o["path"]))
        check(o["size"] == st.st_size and o["uid"] == st.st_uid and
              o["blocks"] == st.st_blocks and o["type"] == "f" and
              int(o["mode"], 8) == st.st_mode & 0o7777 and o["nlink"] == st.st_nlink and
              o["fid"].startswith("[0x"), "find --json %r vs lstat" % o)
    # errors: as GNU (message and status)
    for e in (["-foo"], ["-name"], ["-size", "12q"], ["(", "-name", "x"], ["-maxdepth", "x"],
              ["-type", "z"], ["-newer", "no/such/ref"], ["x", "-name", "y", "z"]):
        cmp_find(["."], e, name="find bad %s" % e)
    cmp_find(["no-such-dir"], [], name="find missing path")
    cmp_find([""], [], name="find empty path")
    cmp_find(["main", "no-such-dir", "main/d1"], ["-name", "*.c"], name="find some missing")


# ---- du -----------------------------------------------------------------------------

def cmp_du(args, cwd=None, sort=True):
    cwd = cwd or E.tree
    r1 = lf("du", *args, cwd=cwd)
    r2 = run(["du", *args], cwd=cwd)
    label = "du " + " ".join(args)
    check(r1[0] == r2[0], "%s: exit %d, GNU du %d (%s)" % (label, r1[0], r2[0], r1[2]))
    a, b = r1[1].splitlines(), r2[1].splitlines()
    if sort:
        a, b = sorted(a), sorted(b)
    if not check(a == b, "%s: output differs from GNU du" % label):
        print("  loafre: %r\n  GNU:    %r" % (a[:20], b[:20]))
    return r1


def test_du():
    # listings on main/ (its hard links stay within one directory)
    for a in (["main"], ["-a", "main"], ["-s", "main"], ["-d", "1", "main"],
              ["--max-depth=2", "-a", "main"], ["--apparent-size", "main"], ["-b", "main"],
              ["-ab", "main"], ["--inodes", "main"], ["--inodes", "-a", "main"],
              ["-h", "main"], ["-sh", "main"], ["-ah", "main"], ["-h", "--apparent-size", "main"],
              ["-k", "main"], ["-m", "main"], ["-B", "4K", "main"], ["-BK", "main"],
              ["-c", "main/d1", "main/d2"], ["-sc", "main/d1", "main/d2", "main/f1.c"],
              ["-s", "main", "main/d1"], ["-s", "main/d1", "main"], ["main/d1", "main"],
              ["-a", "main/d1", "main"], ["main/d2/x2", "main/d2"], ["main/d2", "main/d2/x2"],
              ["-s", "main/d2/x.c", "main/d2/x2"], ["-s", "main", "main"], ["main/"],
              ["-a", "main//"], ["main/f1.c"], ["-s", "main/l_dir"], ["-d", "0", "main"],
              ["-sh", "main/d2/big.bin"]):
        cmp_du(a)
    cmp_du([], cwd=E.tree + "/main/d1")
    cmp_du(["-a", "."], cwd=E.tree + "/main")
    # totals with hard links across directories: exact whatever the link order
    for a in (["-s", "cross"], ["-s", "cross/a", "cross/b"], ["-s", "cross/b", "cross/a"],
              ["-s", "cross/b"], ["-s", "cross/c"], ["-s", "cross/c/deep", "cross/b"],
              ["-sc", "cross/b", "cross/c", "cross/a"], ["-s", "cross/b/y", "cross"],
              ["-s", "cross", "cross/b/y"], ["-s", "."], ["-sb", "."], ["-s", "--inodes", "."],
              ["-s", "cross/a/q", "cross/c"], ["-s", "main", "cross"],
              # the root first (its rollup alone), then PATHs inside it
              ["-sc", ".", "cross/b"], ["-sc", ".", "cross"], ["-sc", "cross/b", "."],
              ["-sc", "cross/c/deep/w", "."], ["-c", "--inodes", "-s", ".", "."]):
        cmp_du(a)
    # the whole tree's per-directory lines differ from GNU only where
    # cross/ splits hard links: main/'s lines are GNU's
    r = lf("du", ".", cwd=E.tree)
    g = run(["du", "."], cwd=E.tree)
    mine = {l for l in r[1].splitlines() if b"./main" in l}
    gnu = {l for l in g[1].splitlines() if b"./main" in l}
    check(mine == gnu, "du . (main lines) differ: %r" % sorted(mine ^ gnu))
    # --json, --by-user
    r = lf("du", "--json", "-s", "main", cwd=E.tree)
    o = json.loads(r[1])
    b = int(run(["du", "-sB1", "main"], cwd=E.tree)[1].split()[0])
    ab = int(run(["du", "-sb", "main"], cwd=E.tree)[1].split()[0])
    n = int(run(["du", "-s", "--inodes", "main"], cwd=E.tree)[1].split()[0])
    check(o == {"path": "main", "disk_bytes": b, "apparent_bytes": ab, "inodes": n},
          "du --json %r" % o)
    r = lf("du", "--by-user", "--json", "main", cwd=E.tree)
    per = {}
    seen = set()
    for rel, st in lstat_all(E.tree + "/main"):
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        per.setdefault(st.st_uid, [0, 0])
        per[st.st_uid][0] += st.st_blocks * 512
        per[st.st_uid][1] += 1
    got = {o["uid"]: [o["disk_bytes"], o["inodes"]] for o in map(json.loads, r[1].splitlines())}
    check(got == per, "du --by-user %r, expected %r" % (got, per))
    r = lf("du", "--by-group", "-h", "main", cwd=E.tree)
    check(r[0] == 0 and all(l.count(b"\t") == 2 for l in r[1].splitlines()),
          "du --by-group output %r" % r[1])
    # errors
    r = lf("du", "no-such", cwd=E.tree)
    check(r[0] == 1 and r[2] == b"loafre du: cannot access 'no-such': No such file or "
          b"directory\n", "du missing path: %r" % (r,))
    cmp_du([""])
    cmp_du(["main/d1", "no-such", "main/d2"])
    r = lf("du", "-s", "-a", "main", cwd=E.tree)
    check(r[0] == 2 and b"cannot both summarize and show all entries" in r[2],
          "du -s -a: %r" % (r,))


# ---- locate, report, fid ------------------------------------------------------------

def links_of(top):
    return [(os.path.join(top, rel), st) for rel, st in lstat_all(top) if rel]


def test_locate():
    import fnmatch
    t = E.tree
    paths = [p for p, st in links_of(t)]

    def ref(pats, icase=False):
        out = []
        for p in paths:
            n = os.path.basename(p)
            ok = True
            for pat in pats:
                if any(ch in pat for ch in "*?["):
                    ok &= fnmatch.fnmatchcase(n.lower() if icase else n,
                                              pat.lower() if icase else pat)
                else:
                    ok &= (pat.lower() in n.lower()) if icase else (pat in n)
            if ok:
                out.append(p.encode())
        return sorted(out)

    for args, pats, icase in ((["file"], ["file"], False), (["*.c"], ["*.c"], False),
                              (["-i", "TXT"], ["TXT"], True), (["f", "c"], ["f", "c"], False),
                              (["-i", "*.TXT"], ["*.TXT"], True), (["file?"], ["file?"], False),
                              (["[xy]*"], ["[xy]*"], False), (["sub"], ["sub"], False),
                              (["with sp"], ["with sp"], False)):
        r = lf("locate", *args)
        exp = ref(pats, icase)
        check(r[0] == (0 if exp else 1) and sorted(r[1].splitlines()) == exp,
              "locate %s: %r, expected %r" % (args, r[1], exp))
    r = lf("locate", "-c", ".c")
    check(r[1].strip() == str(len(ref([".c"]))).encode(), "locate -c %r" % r[1])
    r = lf("locate", "-l", "3", "-0", "file")
    check(len([x for x in r[1].split(b"\0") if x]) == 3 and r[1].endswith(b"\0"),
          "locate -l 3 -0: %r" % r[1])
    r = lf("locate", "no-such-name-at-all")
    check(r[0] == 1 and r[1] == b"", "locate nothing: %r" % (r,))
    r = lf("locate", "--json", "--fs", "t", "README")
    o = [json.loads(l) for l in r[1].splitlines()]
    check(len(o) == 1 and o[0]["path"] == t + "/main/README.TXT" and o[0]["size"] == 5000,
          "locate --json %r" % o)


def inodes_of(top):
    seen = {}
    for rel, st in lstat_all(top):
        seen.setdefault((st.st_dev, st.st_ino), (rel, st))
    return list(seen.values())


CLASSES = [("0", 0, 0), ("1-31", 1, 5), ("32-1K", 6, 10), ("1K-32K", 11, 15),
           ("32K-1M", 16, 20), ("1M-32M", 21, 25), ("32M-1G", 26, 30), ("1G-32G", 31, 35),
           ("32G-1T", 36, 40), ("+1T", 41, 63)]


def profile(sts):
    counts = {c[0]: 0 for c in CLASSES}
    for st in sts:
        if stat.S_ISREG(st.st_mode):
            k = st.st_size.bit_length()
            for label, lo, hi in CLASSES:
                if lo <= k <= hi:
                    counts[label] += 1
    return counts


def test_report():
    t = E.tree
    ins = inodes_of(t)
    sts = [st for rel, st in ins]
    r = lf("report", "--fs-info", "--json")
    o = json.loads(r[1])
    exp = {"entries": len(sts), "files": sum(stat.S_ISREG(s.st_mode) for s in sts),
           "dirs": sum(stat.S_ISDIR(s.st_mode) for s in sts),
           "symlinks": sum(stat.S_ISLNK(s.st_mode) for s in sts),
           "spc_used": sum(s.st_blocks * 512 for s in sts),
           "volume": sum(s.st_size for s in sts)}
    check(all(o.get(k) == v for k, v in exp.items()) and o["index_bytes"] > 0 and
          o["index_bytes_per_entry"] > 0, "report --fs-info %r, expected %r" % (o, exp))
    r = lf("report", "--fs-info")
    check(r[0] == 0 and b"entries" in r[1] and b"bytes per entry" in r[1],
          "report --fs-info text %r" % r[1])
    # top users/groups: every owner with its space and count
    for opt, key, attr in (("--top-users", "uid", "st_uid"), ("--top-groups", "gid", "st_gid")):
        r = lf("report", opt + "=100", "--json", t)
        o = json.loads(r[1])
        rows = o["top_users" if key == "uid" else "top_groups"]
        per = {}
        for s in sts:
            p = per.setdefault(getattr(s, attr), [0, 0])
            p[0] += s.st_blocks * 512
            p[1] += 1
        check({x[key]: [x["spc_used"], x["count"]] for x in rows} == per,
              "report %s %r, expected %r" % (opt, rows, per))
        check([x["spc_used"] for x in rows] == sorted((x["spc_used"] for x in rows),
                                                       reverse=True), "%s order" % opt)
        check(rows[0]["rank"] == 1, "%s rank" % opt)
    r = lf("report", "--top-dirs=3", "--json", "--fs", "t")
    o = json.loads(r[1])["top_dirs"]
    check(len(o) == 3 and o[0]["path"] == t and o[0]["spc_used"] == exp["spc_used"] and
          o[0]["count"] == len(sts), "report --top-dirs %r" % o)
    r = lf("report", "--size-profile", "--json")
    got = {c["class"]: c["count"] for c in json.loads(r[1])["size_profile"]}
    check(got == profile(sts), "report --size-profile %r, expected %r" % (got, profile(sts)))
    r = lf("report", "--oldest=4", "--json")
    o = json.loads(r[1])["oldest"]
    want = sorted(s.st_mtime_ns for s in sts)[:4]
    check(len(o) == 4 and all(abs(x["mtime"] * 1e9 - w) < 1e3 for x, w in zip(o, want)) and
          o[0]["path"] == t + "/cross/solo", "report --oldest %r, expected %r" % (o, want))
    r = lf("report", "--oldest", "--atime")
    check(r[0] == 0 and b"atime" in r[1], "report --oldest --atime %r" % (r,))
    uid = 1000 if ROOT else os.geteuid()
    mine = [s for s in sts if s.st_uid == uid]
    r = lf("report", "--user", str(uid), "--json")
    o = json.loads(r[1])
    check(o["uid"] == uid and o["count"] == len(mine) and
          o["spc_used"] == sum(s.st_blocks * 512 for s in mine) and
          {c["class"]: c["count"] for c in o["size_profile"]} == profile(mine),
          "report --user %r" % o)
    r = lf("report")
    check(r[0] == 2, "report without a report: %r" % (r,))


def test_fid():
    t = E.tree
    r = lf("path2fid", t + "/main/d1/a.c")
    fid = r[1].strip().decode()
    check(r[0] == 0 and fid.startswith("[0x"), "path2fid from the index: %r" % (r,))
    r2 = lf("path2fid", "--index", "main/d1/a.c", cwd=t)
    check(r2[1].strip().decode() == fid, "path2fid --index: %r" % (r2,))
    r = lf("fid2path", "t", fid)
    check(r[0] == 0 and r[1].decode().strip() in (t + "/main/d1/a.c", t + "/main/d1/a_link.c"),
          "fid2path from the index: %r" % (r,))
    r = lf("fid2path", "--index", "t-MDT0000", fid)
    check(r[0] == 0, "fid2path --index t-MDT0000: %r" % (r,))
    r = lf("path2fid", "main/f1.c", "main/d2", cwd=t)
    lines = r[1].decode().splitlines()
    check(r[0] == 0 and len(lines) == 2 and lines[0].startswith("main/f1.c: [0x"),
          "path2fid of two paths %r" % lines)
    r = lf("path2fid", "--index", "main/no-such", cwd=t)
    check(r[0] == 1 and b"No such file or directory" in r[2], "path2fid missing: %r" % (r,))
    r = lf("fid2path", "t", "[0x200000bad:0x1:0x0]")
    check(r[0] == 1 and r[2] == b"loafre: cannot resolve FID [0x200000bad:0x1:0x0] on t: No "
          b"such file or directory\n", "fid2path unknown: %r" % (r,))
    r = lf("fid2path", "--live", "t", fid)   # no loafred state here: the old way fails
    check(r[0] == 1 and b"no state" in r[2], "fid2path --live: %r" % (r,))
    r = lf("path2fid", "--index", "--live", "main", cwd=t)
    check(r[0] == 2, "path2fid --index --live: %r" % (r,))


# ---- quotas --------------------------------------------------------------------------

def quota_list(check_cmd=False):
    r = lf("quota", "check" if check_cmd else "list", "--json")
    return r[0], [json.loads(l) for l in r[1].splitlines()], r[2]


def test_quota():
    t = E.tree
    d1 = t + "/main/d1"
    r = lf("quota", "set", "main/d1", "--bytes", "1M", cwd=t)
    check(r[0] == 0, "quota set: %r" % (r,))
    rc, q, _ = quota_list()
    used = int(run(["du", "-sB1", d1])[1].split()[0])
    n = int(run(["du", "-s", "--inodes", d1])[1].split()[0])
    check(rc == 0 and len(q) == 1 and q[0]["dir"] == d1 and q[0]["bytes_limit"] == 1 << 20 and
          q[0]["bytes"] == used and q[0]["inodes"] == n and q[0]["inodes_limit"] == 0 and
          q[0]["state"] == "ok" and q[0]["alert"] is False, "quota list %r" % q)
    rc, q, _ = quota_list(True)
    check(rc == 0 and q[0]["state"] == "ok", "quota check under the limit: %d %r" % (rc, q))
    # grow past the limit, reload the index: check says over (exit 1)
    write(d1 + "/grow.bin", 2 << 20)
    r = lf("scan", "-q", "t")
    check(r[0] == 0, "rescan: %r" % (r,))
    rc, q, _ = quota_list(True)
    check(rc == 1 and q[0]["state"] == "over" and q[0]["bytes"] > 1 << 20,
          "quota check over the limit: %d %r" % (rc, q))
    r = lf("quota", "check")
    check(r[0] == 1 and b" over " in r[1] and d1.encode() in r[1], "quota check text %r" % (r,))
    r = lf("quota", "set", d1, "--inodes", "3")
    rc, q, _ = quota_list()
    check(q[0]["inodes_limit"] == 3 and q[0]["bytes_limit"] == 1 << 20,
          "quota set --inodes keeps the byte limit: %r" % q)
    r = lf("quota", "set", d1, "--bytes", "10G", "--inodes", "0")
    rc, q, _ = quota_list(True)
    check(rc == 0 and q[0]["state"] == "ok", "quota raised: %d %r" % (rc, q))
    os.unlink(d1 + "/grow.bin")
    r = lf("quota", "rm", "main/d1", cwd=t)
    rc, q, _ = quota_list()
    check(r[0] == 0 and q == [], "quota rm: %r %r" % (r, q))
    for args, msg in ((["rm", "main/d1"], b"has no quota"),
                      (["set", "main/f1.c", "--bytes", "1"], b"is not a directory"),
                      (["set", "main/nothere", "--bytes", "1"], b"is not in the index"),
                      (["set", "/", "--bytes", "1"], b"is not under any filesystem")):
        r = lf("quota", *args, cwd=t)
        check(r[0] == 1 and msg in r[2] and r[2].count(b"\n") == 1, "quota %s: %r" % (args, r))
    r = lf("quota", "set", "main/d1", cwd=t)
    check(r[0] == 2, "quota set without limits: %r" % (r,))
    r = lf("quota", "set", "main/d1", "--bytes", "12Q", cwd=t)
    check(r[0] == 2, "quota set bad size: %r" % (r,))
    # a writer holding the lock: a clear error after the busy timeout
    db = sqlite3.connect(E.db, isolation_level=None, timeout=1)
    db.execute("BEGIN IMMEDIATE")
    try:
        r = lf("quota", "set", "main/d2", "--bytes", "1G", cwd=t, timeout=60)
        check(r[0] == 1 and b"locked" in r[2] and r[2].count(b"\n") == 1,
              "quota set while locked: %r" % (r,))
        r = lf("du", "-s", "main", cwd=t)   # readers are not blocked (WAL)
        check(r[0] == 0, "du while a writer holds the lock: %r" % (r,))
    finally:
        db.execute("ROLLBACK")
        db.close()


# ---- errors -------------------------------------------------------------------------

def test_errors():
    t = E.tree
    conf = E.conf2

    def lf(*args, cwd=None):
        return run([LOAFRE, "-c", conf] + list(args), cwd=cwd)

    r = lf("du", "/", cwd=t)
    check(r[0] == 1 and r[2] == ("loafre du: '/' is not under any filesystem of %s\n" %
                                 conf).encode(), "du /: %r" % (r,))
    r = lf("du", E.noindex)
    check(r[0] == 1 and r[2] == ("loafre du: filesystem 'u' has no [index] section in %s\n" %
                                 conf).encode(), "du of a filesystem without index: %r" % (r,))
    r = lf("find", E.noscan)
    check(r[0] == 1 and r[2] == ("loafre find: index '%s' does not exist yet: start loafred "
                                 "or run 'loafre scan v'\n" % E.noscan_db).encode(),
          "find in a never-scanned index: %r" % (r,))
    r = lf("du", "-s", E.garbage)
    check(r[0] == 1 and r[2].startswith(b"loafre du: ") and r[2].count(b"\n") == 1 and
          E.garbage_db.encode() in r[2], "du with an unreadable index: %r" % (r,))
    r = lf("report", "--fs-info")
    check(r[0] == 1 and b"several filesystems are indexed" in r[2], "report ambiguous %r" % (r,))
    r = lf("locate", "--fs", "nope", "x")
    check(r[0] == 1 and b"unknown filesystem 'nope'" in r[2], "locate --fs nope %r" % (r,))
    # every index: t answers, v and w say why they cannot (exit 1)
    r = lf("locate", "README")
    check(r[0] == 1 and r[1] == (t + "/main/README.TXT\n").encode() and
          r[2].count(b"\n") == 2, "locate over every index: %r" % (r,))
    r = lf("find", "--help")
    check(r[0] == 0 and b"usage: loafre find" in r[1], "find --help %r" % (r,))
    r = lf("du", "--help")
    check(r[0] == 0 and b"usage: loafre du" in r[1], "du --help %r" % (r,))


# ---- main ----------------------------------------------------------------------------

def timed(args, cwd):
    t0 = time.monotonic()
    subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def main():
    if not LOAFRE or not os.access(LOAFRE, os.X_OK):
        print("FAIL: LOAFRE must name the built loafre")
        return 1
    top = tempfile.mkdtemp(prefix="loafre-iq-")
    try:
        top = os.path.realpath(top)
        E.tree = top + "/tree"
        E.noindex = top + "/tree-u"
        E.noscan = top + "/tree-v"
        E.garbage = top + "/tree-w"
        for d in (E.tree, E.noindex, E.noscan, E.garbage):
            os.makedirs(d)
        E.db = top + "/j/index.db"
        E.noscan_db = top + "/jv/index.db"
        E.garbage_db = top + "/jw/index.db"   # the default database of [index w]
        os.makedirs(top + "/jw")
        write(E.garbage_db, 0, b"this is not an index\n" * 100)
        # loafre.conf: the indexed tree; errors.conf: plus a filesystem
        # without [index], one never scanned, one whose database is garbage
        base = ("[loafred]\nrun_dir = %s/run\n\n"
                "[filesystem t]\ntype = local\npath = %s\njournal = %s/j\n\n"
                "[index t]\n\n" % (top, E.tree, top))
        E.conf = top + "/loafre.conf"
        E.conf2 = top + "/errors.conf"
        with open(E.conf, "w") as f:
            f.write(base)
        with open(E.conf2, "w") as f:
            f.write(base +
                    "[filesystem u]\npath = %s\njournal = %s/ju\n\n"
                    "[filesystem v]\npath = %s\njournal = %s/jv\n\n[index v]\n\n"
                    "[filesystem w]\npath = %s\njournal = %s/jw\n\n[index w]\n" %
                    (E.noindex, top, E.noscan, top, E.garbage, top))
        build_tree(E.tree)
        os.makedirs(top + "/j")
        r = lf("scan", "-q", "t")
        if r[0] != 0:
            print("FAIL: loafre scan t: %r" % (r,))
            return 1
        for name, fn in (("find", test_find), ("du", test_du), ("locate", test_locate),
                         ("report", test_report), ("fid", test_fid), ("errors", test_errors),
                         ("quota", test_quota)):
            n0 = len(failures)
            fn()
            print("%s: %s" % (name, "ok" if len(failures) == n0 else "FAILED"), flush=True)
        # informative timings (not asserted)
        for what, a, b in (("find -name '*.c'", [LOAFRE, "-c", E.conf, "find", ".", "-name",
                                                 "*.c"], ["find", ".", "-name", "*.c"]),
                           ("du -s .", [LOAFRE, "-c", E.conf, "du", "-s", "."],
                            ["du", "-s", "."])):
            print("timing %s: loafre %.4f s, GNU %.4f s" % (what, timed(a, E.tree),
                                                             timed(b, E.tree)))
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print("%d checks, %d failed" % (checks, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
