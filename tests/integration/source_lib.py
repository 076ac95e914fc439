# source_lib.py — shared by source_ops.py and source_replay.py (imported,
# not run). Black-box helpers: a temp config with one `type = local`
# filesystem "t" (MDT t-MDT0000), loafred started/stopped as a child
# process, records read back with `loafre changelog --json`, FIDs with
# `loafre path2fid` / `loafre fid2path`. Python 3 stdlib only.
#
# Needs LOAFRE and LOAFRED (the built programs) in the environment.
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

LOAFRE = os.environ.get("LOAFRE", "")
LOAFRED = os.environ.get("LOAFRED", "")

ZERO_FID = "[0:0x0:0x0]"
FID_RE = re.compile(r"\[(?:0x[0-9a-fA-F]+|0):0x[0-9a-fA-F]+:0x[0-9a-fA-F]+\]")

CLFE_UIDGID = 0x1
CLFE_XATTR = 0x8
CLF_UNLINK_LAST = 0x1
CLF_RENAME_LAST = 0x1


class Failed(Exception):
    """A failed expectation; the message says what and shows the records."""


def need_binaries():
    for var, val in (("LOAFRE", LOAFRE), ("LOAFRED", LOAFRED)):
        if not val or not os.access(val, os.X_OK):
            print("FAIL: %s must name the built binary (got %r)" % (var, val))
            sys.exit(1)


def fmt_rec(r):
    """One record as a compact lfs-like line (for failure messages)."""
    s = "%s %s 0x%x t=%s" % (r.get("index"), r.get("type"), rflags(r), r.get("tfid"))
    if "extra_flags" in r:
        s += " ef=%s" % r["extra_flags"]
    if "uid" in r:
        s += " u=%s:%s" % (r["uid"], r.get("gid"))
    if r.get("xattr"):
        s += " x=%s" % r["xattr"]
    if r.get("pfid") and r["pfid"] != ZERO_FID:
        s += " p=%s" % r["pfid"]
    if "name" in r:
        s += " %s" % r["name"]
    if "sfid" in r:
        s += " s=%s sp=%s %s" % (r["sfid"], r.get("spfid"), r.get("sname"))
    return s


def fmt_recs(recs):
    if not recs:
        return "    (no records)"
    return "\n".join("    " + fmt_rec(r) for r in recs)


def rflags(r):
    try:
        return int(r.get("flags", "0x0"), 16)
    except (TypeError, ValueError):
        return -1


def ef(r):
    try:
        return int(r.get("extra_flags", "0x0"), 16)
    except (TypeError, ValueError):
        return 0


class Env:
    """A temp directory with tree/, journal/, run/ and loafre.conf."""

    def __init__(self, fsname="t", commit_ms=5, prefix="loafre-src."):
        self.base = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR") or "/tmp")
        self.tree = os.path.join(self.base, "tree")
        self.journal = os.path.join(self.base, "journal")
        self.run_dir = os.path.join(self.base, "run")
        self.conf = os.path.join(self.base, "loafre.conf")
        self.logpath = os.path.join(self.base, "daemon.log")
        self.fsname = fsname
        self.mdt = fsname + "-MDT0000"
        self.proc = None
        self.last = 0  # last record index consumed
        os.mkdir(self.tree)
        # Lustre's default changelog mask (no changelog_mask line): what a
        # Lustre user sees by default (no OPEN/ATIME/GXATR/NOPEN).
        with open(self.conf, "w") as f:
            f.write(
                "[loafred]\n"
                "run_dir = run\n"
                "log = stderr\n"
                "log_level = debug\n"
                "commit_interval_ms = %d\n"
                "\n"
                "[filesystem %s]\n"
                "type = local\n"
                "path = tree\n"
                "journal = journal\n"
                "fsync = none\n" % (commit_ms, fsname)
            )

    # ---- daemon ------------------------------------------------------------
    def log_text(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self, timeout=60):
        """Starts loafred; returns when it logged 'started' (after this start)."""
        if self.proc:
            raise Failed("loafred already running")
        off = len(self.log_text())
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [LOAFRED, "-c", self.conf], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf
        )
        logf.close()
        pidfile = os.path.join(self.run_dir, "loafred.pid")
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise Failed("loafred exited %s at start; log:\n%s" % (rc, self.log_text()[off:]))
            if os.path.exists(pidfile) and "started" in self.log_text()[off:]:
                return time.monotonic() - t0
            time.sleep(0.02)
        raise Failed("loafred did not log 'started' within %d s; log:\n%s"
                     % (timeout, self.log_text()[off:]))

    def stop(self, timeout=20):
        """SIGTERM; returns the exit status."""
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            self.proc = None
            raise Failed("loafred did not stop within %d s of SIGTERM" % timeout)
        self.proc = None
        return rc

    def cleanup(self, keep=False):
        try:
            if self.proc:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
        finally:
            if keep or os.environ.get("LOAFRE_KEEP"):
                print("kept %s" % self.base)
            else:
                shutil.rmtree(self.base, ignore_errors=True)

    # ---- CLI -----------------------------------------------------------------
    def lf(self, *args, check=True):
        p = subprocess.run([LOAFRE, "-c", self.conf] + [str(a) for a in args],
                           capture_output=True, text=True, errors="replace")
        if check and p.returncode != 0:
            raise Failed("'loafre %s' exited %d: %s" % (" ".join(map(str, args)), p.returncode,
                                                        (p.stderr or p.stdout).strip()))
        return p

    def records(self, start=1):
        """All records with index >= start (JSON objects)."""
        p = self.lf("changelog", "--json", self.mdt, max(start, 1), check=False)
        if p.returncode != 0:
            if "no journal" in p.stderr:
                return []
            raise Failed("'loafre changelog --json %s %d' exited %d: %s"
                         % (self.mdt, start, p.returncode, p.stderr.strip()))
        out = []
        for line in p.stdout.splitlines():
            if line.strip():
                r = json.loads(line)
                if r["index"] >= start:
                    out.append(r)
        return out

    def wait_records(self, n, timeout=5.0, settle=0.3):
        """Waits until at least n records past self.last are readable, then
        `settle` seconds more (to catch extras); consumes and returns them
        all, with the time it took to see the n-th. Returns what it has
        after the timeout (the caller's expectation then fails and prints
        them)."""
        t0 = time.monotonic()
        recs = []
        seen_at = None
        while True:
            recs = self.records(self.last + 1)
            if len(recs) >= n:
                seen_at = time.monotonic() - t0
                break
            if time.monotonic() - t0 > timeout:
                break
            time.sleep(0.02)
        if seen_at is not None and settle > 0:
            time.sleep(settle)
            recs = self.records(self.last + 1)
        if recs:
            self.last = recs[-1]["index"]
        return recs, seen_at

    def quiesce(self, quiet=1.0, timeout=60.0, at_least=0):
        """Consumes records until none arrived for `quiet` seconds (and at
        least `at_least` came). Returns them."""
        t0 = time.monotonic()
        got = []
        last_new = time.monotonic()
        while True:
            recs = self.records(self.last + 1)
            if recs:
                got += recs
                self.last = recs[-1]["index"]
                last_new = time.monotonic()
            now = time.monotonic()
            if len(got) >= at_least and now - last_new >= quiet:
                return got
            if now - t0 > timeout:
                return got
            time.sleep(0.05)

    def path2fid(self, path):
        p = self.lf("path2fid", path, check=False)
        m = FID_RE.search(p.stdout)
        if p.returncode != 0 or not m:
            raise Failed("'loafre path2fid %s' exited %d: %s%s" % (
                path, p.returncode, p.stdout.strip(), p.stderr.strip()))
        return m.group(0)

    def fid2path(self, fid):
        p = self.lf("fid2path", self.mdt, fid, check=False)
        if p.returncode != 0:
            raise Failed("'loafre fid2path %s %s' exited %d: %s" % (
                self.mdt, fid, p.returncode, p.stderr.strip()))
        return p.stdout.rstrip("\n")


# ---- the replayer -------------------------------------------------------------

class Model:
    """The namespace a consumer rebuilds from the records: objects by FID
    (type, links) and entries (parent FID, name) -> FID. Inconsistencies
    (a record that cannot apply to the state so far) are collected in
    self.errors with the record."""

    NS_CREATE = {"CREAT": "file", "MKDIR": "dir", "SLINK": "symlink", "MKNOD": "other"}
    DATA = {"CLOSE", "MTIME", "CTIME", "ATIME", "TRUNC", "SATTR", "XATTR", "OPEN",
            "LYOUT", "HSM", "FLRW", "RESYNC", "GXATR", "NOPEN", "MIGRT", "MARK"}

    def __init__(self, root_fid):
        self.root = root_fid
        self.objs = {root_fid: {"type": "dir", "links": set()}}
        self.dent = {}  # (pfid, name) -> fid
        self.errors = []
        self.applied = 0

    def err(self, r, why):
        self.errors.append("%s  <- %s" % (why, fmt_rec(r)))

    def add_obj(self, fid, typ, path_parent=None):
        self.objs[fid] = {"type": typ, "links": set()}

    def link(self, r, pfid, name, fid):
        if pfid not in self.objs or self.objs[pfid]["type"] != "dir":
            self.err(r, "parent %s is not a known directory" % pfid)
        if (pfid, name) in self.dent:
            self.err(r, "entry %s/%s already exists (-> %s)" % (pfid, name, self.dent[(pfid, name)]))
        self.dent[(pfid, name)] = fid
        self.objs[fid]["links"].add((pfid, name))

    def unlink(self, r, pfid, name, fid):
        got = self.dent.get((pfid, name))
        if got is None:
            self.err(r, "entry %s/%s does not exist" % (pfid, name))
            return
        if fid is not None and got != fid:
            self.err(r, "entry %s/%s is %s, not %s" % (pfid, name, got, fid))
        del self.dent[(pfid, name)]
        if got in self.objs:
            self.objs[got]["links"].discard((pfid, name))

    def drop_obj(self, r, fid):
        o = self.objs.get(fid)
        if o is None:
            return
        if o["links"]:
            self.err(r, "object %s marked gone but still has links %s" % (fid, sorted(o["links"])))
            for k in list(o["links"]):
                self.dent.pop(k, None)
        if o["type"] == "dir" and any(p == fid for (p, _n) in self.dent):
            self.err(r, "directory %s removed while it has entries" % fid)
        del self.objs[fid]

    def apply(self, r):
        self.applied += 1
        t = r.get("type")
        tf = r.get("tfid")
        pf = r.get("pfid")
        name = r.get("name")
        fl = rflags(r)
        if t in self.NS_CREATE:
            if tf in self.objs:
                self.err(r, "created FID %s is already live" % tf)
                return
            self.add_obj(tf, self.NS_CREATE[t])
            self.link(r, pf, name, tf)
        elif t == "HLINK":
            if tf not in self.objs:
                self.err(r, "hard link to unknown FID %s" % tf)
                self.add_obj(tf, "file")
            self.link(r, pf, name, tf)
        elif t in ("UNLNK", "RMDIR"):
            if tf not in self.objs:
                self.err(r, "unlink of unknown FID %s" % tf)
            self.unlink(r, pf, name, tf)
            o = self.objs.get(tf)
            if t == "RMDIR" or fl & CLF_UNLINK_LAST:
                self.drop_obj(r, tf)
            elif o is not None and not o["links"]:
                self.err(r, "UNLNK without CLF_UNLINK_LAST removed the last link of %s" % tf)
        elif t == "RENME":
            sf, spf, sname = r.get("sfid"), r.get("spfid"), r.get("sname")
            if sf not in self.objs:
                self.err(r, "rename of unknown FID %s" % sf)
                return
            self.unlink(r, spf, sname, sf)
            victim = self.dent.get((pf, name))
            if victim is not None:
                if tf == ZERO_FID or tf is None:
                    self.err(r, "target entry exists (%s) but t is zero" % victim)
                elif victim != tf:
                    self.err(r, "target entry is %s, record says t=%s" % (victim, tf))
                self.unlink(r, pf, name, victim)
                v = self.objs.get(victim)
                if fl & CLF_RENAME_LAST:
                    self.drop_obj(r, victim)
                elif v is not None and not v["links"]:
                    self.err(r, "RENME without CLF_RENAME_LAST overwrote the last link of %s" % victim)
            elif tf not in (None, ZERO_FID):
                self.err(r, "t=%s but no entry %s/%s existed" % (tf, pf, name))
            self.link(r, pf, name, sf)
        elif t in self.DATA:
            if tf not in self.objs:
                self.err(r, "%s on unknown FID %s" % (t, tf))
        else:
            self.err(r, "unexpected record type %s" % t)

    def paths(self):
        """{relative path: (type, fid)} for every entry reachable from root."""
        kids = {}
        for (p, n), f in self.dent.items():
            kids.setdefault(p, []).append((n, f))
        out = {}
        stack = [(self.root, "")]
        seen = set()
        while stack:
            d, pre = stack.pop()
            if d in seen:
                self.errors.append("directory %s reachable twice (cycle or two links)" % d)
                continue
            seen.add(d)
            for n, f in kids.get(d, []):
                path = pre + n
                o = self.objs.get(f, {"type": "?"})
                out[path] = (o["type"], f)
                if o["type"] == "dir":
                    stack.append((f, path + "/"))
        unreachable = [f for p in kids if p not in seen for _n, f in kids[p]]
        if unreachable:
            self.errors.append("%d entries under directories not reachable from the root"
                               % len(unreachable))
        return out


def live_paths(root):
    """{relative path: type} of the live tree (no symlink following)."""
    import stat as st
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        pre = "" if rel == "." else rel + "/"
        for n in dirnames + filenames:
            m = os.lstat(os.path.join(dirpath, n)).st_mode
            if st.S_ISDIR(m):
                typ = "dir"
            elif st.S_ISREG(m):
                typ = "file"
            elif st.S_ISLNK(m):
                typ = "symlink"
            else:
                typ = "other"
            out[pre + n] = typ
    return out


def compare_tree(model, root, limit=20):
    """Returns a list of differences between the model and the live tree."""
    mp = model.paths()
    lp = live_paths(root)
    diffs = []
    for p in sorted(set(mp) | set(lp)):
        a = mp.get(p)
        b = lp.get(p)
        if a is None:
            diffs.append("live only:  %s (%s)" % (p, b))
        elif b is None:
            diffs.append("model only: %s (%s %s)" % (p, a[0], a[1]))
        elif a[0] != b:
            diffs.append("type:       %s model %s, live %s" % (p, a[0], b))
    if len(diffs) > limit:
        diffs = diffs[:limit] + ["... %d more" % (len(diffs) - limit)]
    return diffs


def run_env_test(body, **env_args):
    """Runs body(env) on a fresh Env(**env_args): prints a FAIL line for a
    Failed or any other exception, always stops loafred, keeps the
    directory when the test failed. Returns the exit status."""
    env = Env(**env_args)
    ok = False
    try:
        body(env)
        ok = True
    except Failed as e:
        print("FAIL: %s" % e)
    except Exception:
        traceback.print_exc()
        print("FAIL: unexpected exception")
    finally:
        try:
            env.stop()
        except Exception:
            pass
        env.cleanup(keep=not ok)
    return 0 if ok else 1
