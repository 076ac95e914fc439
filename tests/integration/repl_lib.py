# repl_lib.py — shared by the replication integration tests (issue 6, §5):
# ssh_dest.py, repl_storm.py, repl_outage.py, repl_rules.py (imported, not
# run). Python 3 stdlib only. Black-box: real files, real rsync, Debian's
# real sshd, loafred and `loafre worker` as child processes.
#
# - Sshd: a private OpenSSH server on 127.0.0.1:PORT (generated ed25519 host
#   and client keys, its own sshd_config and known_hosts); stop() ends the
#   listener and every session it forked (so open ssh master connections
#   die as with a real outage), start() again on the same port.
# - ReplEnv (a source_lib.Env: loafred on a temp tree, filesystem "t"): rule
#   and exclude files in RULES_DIR, loafred's stats, `loafre rule status`,
#   convergence (every destination had its initial sync, STATE/synced.N, and
#   the rule's broker group acked up to the journal's last index), `loafre
#   verify RULE`, `loafre worker` processes (also "on another node": a
#   second configuration whose rules loafred does not run). A changelog
#   reader "keep" keeps every record readable for the post-mortem of a kept
#   directory (`loafre -c DIR/loafre.conf changelog t-MDT0000`).
# - snapshot()/compare_trees(): an independent oracle (type, size, content,
#   mode, owner through a uid map, mtime, symlink target, user.* xattrs,
#   hard-link structure) besides `loafre verify` and `diff -r`.
# - Storm: a seeded random operation storm on a tree.
#
# Needs LOAFRE and LOAFRED in the environment; root (chown, sshd). Temp
# directories go to TMPDIR (default /tmp): keep it short (20 bytes or so),
# the ssh ControlPath under RUN_DIR must fit.
import ctypes
import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proc_lib  # noqa: E402
from proc_lib import free_port  # noqa: E402,F401
from source_lib import LOAFRE, Env, Failed, need_binaries  # noqa: E402,F401

SSHD = "/usr/sbin/sshd"


def run(args, timeout=300, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          errors="replace", timeout=timeout, **kw)


def need_tools(ssh=True, root=True):
    """Exits 77 (skipped) when something the tests need is missing."""
    progs = [shutil.which("rsync"), shutil.which("diff")]
    if ssh:
        progs += [SSHD, shutil.which("ssh"), shutil.which("ssh-keygen")]
    for prog in progs:
        if not prog or not os.path.exists(prog):
            print("skipped: sshd, ssh, ssh-keygen, rsync or diff not installed")
            sys.exit(77)
    if root and os.geteuid() != 0:
        print("skipped: needs root (chown, sshd)")
        sys.exit(77)


def subreaper():
    """Orphans of our children (ssh masters daemonized by a worker that was
    killed) become our children: descendants() then finds them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _ppids():
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
            # comm may hold blanks and parentheses: fields after the last ')'
            rest = s[s.rindex(")") + 2:].split()
            out[int(d)] = (int(rest[1]), s[s.index("(") + 1:s.rindex(")")])
        except (OSError, ValueError, IndexError):
            continue
    return out


def descendants(pid):
    """[(pid, comm)] of every descendant of pid (children first)."""
    pp = _ppids()
    kids = {}
    for p, (ppid, comm) in pp.items():
        kids.setdefault(ppid, []).append(p)
    out = []
    stack = [pid]
    while stack:
        q = stack.pop()
        for c in kids.get(q, []):
            out.append((c, pp[c][1]))
            stack.append(c)
    return out


def kill_pids(pids, sig=signal.SIGKILL):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def control_dirs(pids):
    """The ssh ControlPath directories named on the command lines of pids
    (a worker's short /tmp/loafre-ssh.XXXXXX, which it removes when it
    stops, but not when it is killed)."""
    import re
    out = set()
    for p in pids:
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                args = f.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        for a in args:
            m = re.match(r"ControlPath=(/tmp/loafre-ssh\.[A-Za-z0-9]{6})/", a)
            if m:
                out.add(m.group(1))
    return out


def reap_orphans():
    """Kills and reaps what was left of our descendants (subreaper), and
    removes the ssh control directories they named (only those)."""
    mine = [p for p, _c in descendants(os.getpid())]
    dirs = control_dirs(mine)
    kill_pids(mine)
    for p in mine:
        try:
            os.waitpid(p, 0)
        except ChildProcessError:
            pass
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def wait_for(pred, timeout, what, interval=0.1):
    """proc_lib.wait_for, polling every 0.1 s unless told (the predicates
    here often run commands)."""
    return proc_lib.wait_for(pred, timeout, what, interval)


def settled(check, timeout, interval=0.5):
    """Runs check() until it raises no Failed, for up to timeout seconds;
    the last failure is raised. For comparisons of trees that a worker's
    idle checks may still mend (names no record has, docs/replication.md:
    removed a few seconds after the worker's last record)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except Failed:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


# ---- sshd -----------------------------------------------------------------------

class Sshd:
    """Debian's sshd on 127.0.0.1 with keys generated in TOP/k (client
    key TOP/k/id, known_hosts TOP/k/kh)."""

    def __init__(self, top, port=None):
        # short names: they keep destination lines (port=, identity=,
        # known_hosts=) short
        self.keys = os.path.join(top, "k")
        os.makedirs(self.keys, 0o700, exist_ok=True)
        self.hostkey = os.path.join(self.keys, "host")
        self.client = os.path.join(self.keys, "id")
        for k in (self.hostkey, self.client):
            p = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k])
            if p.returncode != 0:
                raise Failed("ssh-keygen: " + p.stderr)
        self.port = port or free_port()
        self.auth = os.path.join(self.keys, "authorized_keys")
        shutil.copy(self.client + ".pub", self.auth)
        self.known = os.path.join(self.keys, "kh")
        with open(self.hostkey + ".pub") as f:
            hk = f.read().split()
        with open(self.known, "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (self.port, hk[0], hk[1]))
        self.conf = os.path.join(self.keys, "sshd_config")
        self.log = os.path.join(top, "sshd.log")
        with open(self.conf, "w") as f:
            f.write("ListenAddress 127.0.0.1\nPort %d\nHostKey %s\nAuthorizedKeysFile %s\n"
                    "PidFile %s\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "MaxStartups 100\nMaxSessions 100\n"
                    "Subsystem sftp internal-sftp\n"
                    % (self.port, self.hostkey, self.auth, os.path.join(self.keys, "sshd.pid")))
        self.proc = None

    def start(self, timeout=20):
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
        with open(self.log, "a") as logf:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.conf],
                                         stdout=subprocess.DEVNULL, stderr=logf)
        t0 = time.monotonic()
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise Failed("sshd exited: " + open(self.log).read()[-2000:])
                if time.monotonic() - t0 > timeout:
                    raise Failed("sshd not listening on port %d after %d s"
                                 % (self.port, timeout))
                time.sleep(0.05)

    def stop(self):
        """The listener and every session (the destination is gone, as when
        its host goes down: established master connections break too)."""
        if not self.proc:
            return
        sessions = [p for p, _c in descendants(self.proc.pid)]
        self.proc.kill()
        self.proc.wait()
        kill_pids(sessions)
        self.proc = None

    def spec(self, path, user="root"):
        """A rule's destination line for PATH on this server."""
        return "%s@127.0.0.1:%s port=%d identity=%s known_hosts=%s" % (
            user, path, self.port, self.client, self.known)

    def verify_args(self):
        return ["--ssh-port", str(self.port), "--ssh-identity", self.client,
                "--ssh-known-hosts", self.known]


# ---- loafred with rules ------------------------------------------------------------

class ReplEnv(Env):
    """source_lib.Env (tree/, journal/, run/, loafre.conf, filesystem "t")
    with RULES_DIR = base/rules.d and replication helpers."""

    def __init__(self, prefix="loafre-repl."):
        super().__init__(prefix=prefix)
        self.rules_dir = os.path.join(self.base, "rules.d")
        os.mkdir(self.rules_dir)
        self.workers = []
        self.ndest = {}  # rule -> number of destinations (write_rule)

    def path(self, *parts):
        return os.path.join(self.base, *parts)

    def start(self, timeout=60):
        """Starts loafred; the first time, registers a changelog reader
        "keep" that never clears, so that every record stays readable
        (`loafre changelog t-MDT0000` in a kept directory after a failure)."""
        t = super().start(timeout)
        if not getattr(self, "_keeper", False):
            self.lf("changelog_register", self.mdt, "-u", "keep")
            self._keeper = True
        return t

    def write_rule(self, name, lines, conf=None):
        """RULES_DIR/NAME.rule: [rule NAME] with `filesystem = t` and the
        given "key = value" lines (conf: of other_node_conf(), in its rules
        directory)."""
        rd = self.rules_dir if conf is None else conf[:-len(".conf")] + ".rules"
        self.ndest[name] = sum(1 for ln in lines if ln.split("=")[0].strip() == "destination")
        with open(os.path.join(rd, name + ".rule"), "w") as f:
            f.write("[rule %s]\nfilesystem = %s\n%s\n" % (name, self.fsname, "\n".join(lines)))
        p = self.lf_conf(conf or self.conf, "rule", "show", name, check=False)
        if p.returncode != 0:
            raise Failed("rule %s does not load: %s" % (name, (p.stderr or p.stdout).strip()))

    def write_exclude(self, name, lines):
        with open(os.path.join(self.rules_dir, name + ".exclude"), "w") as f:
            f.write("[exclude %s]\n%s\n" % (name, "\n".join(lines)))

    def other_node_conf(self, name="node2"):
        """A second configuration for `loafre worker` processes "on another
        node": loafred's (same filesystem, journal, run_dir: the same broker)
        with its own rules directory BASE/NAME.rules, which loafred does not
        read, so loafred runs no worker for the rules written there (with
        write_rule(..., conf=...)). Returns the configuration's path."""
        conf = self.path(name + ".conf")
        rd = self.path(name + ".rules")
        os.makedirs(rd, exist_ok=True)
        with open(self.conf) as f:
            text = f.read()
        if not text.startswith("[loafred]\n"):
            raise Failed("unexpected configuration layout")
        with open(conf, "w") as f:
            f.write("[loafred]\nrules_dir = %s\n" % rd + text[len("[loafred]\n"):])
        return conf

    def lf_conf(self, conf, *args, check=True):
        import subprocess as sp
        p = sp.run([LOAFRE, "-c", conf] + [str(a) for a in args], capture_output=True,
                   text=True, errors="replace")
        if check and p.returncode != 0:
            raise Failed("'loafre -c %s %s' exited %d: %s" % (
                conf, " ".join(map(str, args)), p.returncode, (p.stderr or p.stdout).strip()))
        return p

    # ---- counters ------------------------------------------------------------
    def stats(self):
        """loafred's RUN_DIR/stats as {key: str}."""
        p = self.lf("stats", check=False)
        out = {}
        if p.returncode == 0:
            for line in p.stdout.splitlines():
                k, _, v = line.partition(" ")
                out[k] = v.strip()
        return out

    def group_stats(self, rule, st=None):
        st = self.stats() if st is None else st
        pre = "broker.group.rep-%s." % rule
        return {k[len(pre):]: v for k, v in st.items() if k.startswith(pre)}

    def rule_stats(self, rule, st=None):
        st = self.stats() if st is None else st
        pre = "rule.%s." % rule
        return {k[len(pre):]: v for k, v in st.items() if k.startswith(pre)}

    def status(self, rule=None):
        """`loafre rule status [RULE]`: the CompletedProcess."""
        return self.lf("rule", "status", *([rule] if rule else []), check=False)

    def status_json(self, rule):
        """`loafre rule status RULE --json`: the rule's object ("rule",
        "state", "lag", "lag_seconds", "destinations": [{"destination",
        "state", "done", "failed", "bytes", "error"}], ...)."""
        p = self.lf("rule", "status", rule, "--json", check=False)
        if p.returncode != 0:
            raise Failed("'loafre rule status %s --json' exited %d: %s"
                         % (rule, p.returncode, (p.stderr or p.stdout).strip()))
        try:
            objs = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
        except ValueError as e:
            raise Failed("'loafre rule status %s --json': %s: %r" % (rule, e, p.stdout[:500]))
        for o in objs:
            if o.get("rule") == rule:
                return o
        raise Failed("'loafre rule status %s --json' has no object for it: %r"
                     % (rule, p.stdout[:500]))

    def journal_last(self):
        p = self.lf("changelog_users", "--json", self.mdt, check=False)
        if p.returncode != 0:
            return 0
        return json.loads(p.stdout)["current_index"]

    def wait_journal_quiet(self, quiet=1.5, timeout=120):
        """Waits until the journal's last index stayed the same for `quiet`
        seconds (loafred recorded every change made so far). Returns it."""
        t0 = time.monotonic()
        last, since = self.journal_last(), time.monotonic()
        while True:
            time.sleep(0.2)
            cur = self.journal_last()
            if cur != last:
                last, since = cur, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return cur
            if time.monotonic() - t0 > timeout:
                raise Failed("the journal kept growing for %d s" % timeout)

    def acked_position(self, rule):
        v = self.group_stats(rule).get("position." + self.mdt)
        return int(v) if v and v.isdigit() else -1

    def describe(self, rule):
        """What to print when waiting failed: status, group and rule counters."""
        st = self.stats()
        p = self.status(rule)
        g = self.group_stats(rule, st)
        r = self.rule_stats(rule, st)
        return ("journal last %d; group rep-%s: %s\nrule counters: %s\n"
                "`loafre rule status %s` (exit %d):\n%s%s"
                % (self.journal_last(), rule, " ".join("%s=%s" % kv for kv in sorted(g.items())),
                   " ".join("%s=%s" % kv for kv in sorted(r.items())),
                   rule, p.returncode, p.stdout, p.stderr))

    def synced(self, rule):
        """Whether every destination of the rule had its initial sync (the
        worker's state files STATE/synced.N, lib/repl_worker.c)."""
        sd = os.path.join(self.journal, "replication", rule)
        return all(os.path.exists(os.path.join(sd, "synced.%d" % i))
                   for i in range(self.ndest.get(rule, 1)))

    def wait_converged(self, rule, timeout=120):
        """Waits until the rule's initial sync is done and every record
        loafred wrote is acked by the rule's group (its position reached
        the journal's last index: every destination has it, or it went to
        the failed list). Returns the seconds waited after the journal went
        quiet."""
        target = self.wait_journal_quiet()
        t0 = time.monotonic()
        wait_for(lambda: self.synced(rule) and self.acked_position(rule) >= target, timeout,
                 lambda: "rule %s to have synced and acked up to index %d (synced: %s): %s"
                 % (rule, target, self.synced(rule), self.describe(rule)),
                 interval=0.2)
        return time.monotonic() - t0

    def verify(self, rule, *extra, conf=None):
        """`loafre verify RULE [extra]`: the CompletedProcess."""
        return self.lf_conf(conf or self.conf, "verify", rule, *extra, check=False)

    def verify_ok(self, rule, what, conf=None):
        """`loafre verify RULE --checksum` exits 0 and names no difference
        (the "rule RULE: SRC -> DEST" headings aside)."""
        p = self.verify(rule, "--checksum", conf=conf)
        diffs = [ln for ln in p.stdout.splitlines()
                 if ln.strip() and not ln.startswith("rule %s: " % rule)]
        if p.returncode != 0 or diffs:
            raise Failed("%s: `loafre verify %s --checksum` exited %d:\n%s%s"
                         % (what, rule, p.returncode, p.stdout[-4000:], p.stderr[-2000:]))

    # ---- external workers -------------------------------------------------------
    def start_worker(self, rule, *args, name=None, conf=None):
        """`loafre -c CONF worker --rule RULE ARGS` (conf: loafred's)."""
        w = Worker(self, rule, args, name or "worker%d" % (len(self.workers) + 1),
                   conf or self.conf)
        self.workers.append(w)
        return w

    def cleanup(self, keep=False):
        for w in self.workers:
            w.kill()
        super().cleanup(keep=keep)


class Worker:
    """A `loafre -c CONF worker --rule RULE ARGS` child; output in a log."""

    def __init__(self, env, rule, args, name, conf):
        self.name = name
        self.log = env.path(name + ".log")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [LOAFRE, "-c", conf, "worker", "--rule", rule] + [str(a) for a in args],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        self.pid = self.proc.pid
        self.control_dirs = set()  # ssh control directories of killed children

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM; the exit status (Failed if it does not stop)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise Failed("%s did not stop within %d s of SIGTERM" % (self.name, timeout))
        return self.proc.returncode

    def kill(self):
        """SIGKILL, and the same for what it started (rsync, ssh; their ssh
        control directories are noted for reap_orphans())."""
        if self.proc.poll() is None:
            kids = [p for p, _c in descendants(self.proc.pid)]
            self.control_dirs |= control_dirs(kids)
            self.proc.kill()
            self.proc.wait()
            kill_pids(kids)


# ---- the oracle --------------------------------------------------------------------

def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()[:16]


def _kind(m):
    if stat.S_ISDIR(m):
        return "dir"
    if stat.S_ISREG(m):
        return "file"
    if stat.S_ISLNK(m):
        return "symlink"
    return "other"


def snapshot(root, uid_map=None, gid_map=None, skip=None, times=True):
    """{rel: attributes} of every entry under root (not root itself), and
    the hard-link groups (sets of names sharing an inode, 2 or more).
    uid_map/gid_map: {S: D} ("*" for any other) applied to the ids (for a
    source compared with a translated destination). skip(rel) leaves an
    entry (and its subtree) out."""
    ents = {}
    inodes = {}

    def mapid(m, i):
        if not m:
            return i
        return m.get(i, m.get("*", i))

    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        pre = "" if rel_dir == "." else rel_dir + "/"
        keep = []
        for n in sorted(dirnames + filenames):
            rel = pre + n
            if skip and skip(rel):
                continue
            full = os.path.join(dirpath, n)
            st = os.lstat(full)
            k = _kind(st.st_mode)
            a = {"type": k, "mode": "%04o" % stat.S_IMODE(st.st_mode) if k != "symlink" else "-",
                 "owner": "%d:%d" % (mapid(uid_map, st.st_uid), mapid(gid_map, st.st_gid))}
            if times:
                a["mtime"] = st.st_mtime_ns
            if k == "file":
                a["size"] = st.st_size
                a["content"] = _digest(full)
                inodes.setdefault(st.st_ino, set()).add(rel)
            elif k == "symlink":
                a["target"] = os.readlink(full)
            if k in ("file", "dir"):
                xs = {}
                for x in os.listxattr(full, follow_symlinks=False):
                    if x.startswith("user."):
                        xs[x] = os.getxattr(full, x, follow_symlinks=False)
                a["xattrs"] = xs
            ents[rel] = a
            if k == "dir":
                keep.append(n)
        dirnames[:] = [d for d in dirnames if d in keep]
    links = {frozenset(s) for s in inodes.values() if len(s) > 1}
    return ents, links


def compare_trees(src, dst, uid_map=None, gid_map=None, skip=None, times=True, limit=30):
    """Differences between src and its replica dst, one line each ([] when
    the same): entries, every attribute of snapshot(), hard-link groups."""
    a, la = snapshot(src, uid_map, gid_map, skip, times)
    b, lb = snapshot(dst, None, None, skip, times)
    out = []
    for rel in sorted(set(a) | set(b)):
        x, y = a.get(rel), b.get(rel)
        if y is None:
            out.append("missing: %s (%s)" % (rel, x["type"]))
        elif x is None:
            out.append("extra: %s (%s)" % (rel, y["type"]))
        else:
            for k in sorted(set(x) | set(y)):
                if x.get(k) != y.get(k):
                    out.append("%s: %s %r != %r" % (k, rel, x.get(k), y.get(k)))
    for g in sorted(la - lb, key=sorted):
        out.append("links: %s are one file at the source only" % sorted(g))
    for g in sorted(lb - la, key=sorted):
        out.append("links: %s are one file at the destination only" % sorted(g))
    if len(out) > limit:
        out = out[:limit] + ["... %d more" % (len(out) - limit)]
    return out


def diff_r(src, dst):
    """`diff -r --no-dereference`: its output ('' when the same)."""
    p = run(["diff", "-r", "--no-dereference", src, dst])
    if p.returncode == 0:
        return ""
    return (p.stdout + p.stderr) or "diff exited %d" % p.returncode


# ---- the storm ----------------------------------------------------------------------

class Storm:
    """Random operations on the tree at `root` (rng seeded by the caller):
    creates, appends, overwrites, truncates (also growing: holes), renames
    of files and directories across the tree (also over existing files),
    hard links, symlinks, chmod, chown, user.* xattrs set and removed,
    unlinks, mkdir, rmdir of whole trees. self.counts: operations done per
    kind; self.failed: refused ones (EISDIR, ENOTEMPTY...), per kind."""

    KINDS = [("create", 14), ("append", 8), ("overwrite", 6), ("truncate", 4), ("mkdir", 6),
             ("rename_file", 10), ("rename_dir", 4), ("hardlink", 4), ("symlink", 4),
             ("chmod", 4), ("chown", 4), ("setxattr", 5), ("rmxattr", 2), ("unlink", 8),
             ("rmtree", 2), ("touch", 2)]
    UIDS = [0, 1000, 1234, 4321]

    def __init__(self, root, rng, max_size=256 << 10):
        self.root = root
        self.rng = rng
        self.max_size = max_size
        self.n = 0
        self.counts = {}
        self.failed = {}
        self.kinds = [k for k, _w in self.KINDS]
        self.weights = [w for _k, w in self.KINDS]
        self.rescan()

    def rescan(self):
        self.dirs = [""]
        self.files = []
        self.links = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            pre = "" if rel == "." else rel + "/"
            for d in dirnames:
                self.dirs.append(pre + d)
            for f in filenames:
                if os.path.islink(os.path.join(dirpath, f)):
                    self.links.append(pre + f)
                else:
                    self.files.append(pre + f)

    def P(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def name(self, prefix):
        self.n += 1
        return "%s%d" % (prefix, self.n)

    def pick(self, lst):
        while lst:
            i = self.rng.randrange(len(lst))
            if os.path.lexists(self.P(lst[i])):
                return lst[i]
            lst.pop(i)
        return None

    def data(self, n):
        return self.rng.randbytes(n) if hasattr(self.rng, "randbytes") else \
            bytes(self.rng.getrandbits(8) for _ in range(n))

    def step(self):
        kind = self.rng.choices(self.kinds, self.weights)[0]
        try:
            done = getattr(self, "op_" + kind)()
        except OSError:
            self.failed[kind] = self.failed.get(kind, 0) + 1
            self.rescan()
            return kind
        if done is not False:
            self.counts[kind] = self.counts.get(kind, 0) + 1
        return kind

    def run(self, ops, pause_every=0, pause=0.0):
        for i in range(ops):
            self.step()
            if pause_every and i % pause_every == pause_every - 1:
                time.sleep(pause)
            if i % 50 == 49:
                self.rescan()

    def size(self):
        r = self.rng.random()
        if r < 0.1:
            return 0
        if r < 0.9:
            return self.rng.randrange(1, 8192)
        return self.rng.randrange(8192, self.max_size)

    # ---- operations -------------------------------------------------------
    def op_create(self):
        d = self.pick(self.dirs)
        if d is None:
            d = ""
        rel = (d + "/" if d else "") + self.name("f")
        with open(self.P(rel), "wb") as f:
            f.write(self.data(self.size()))
        self.files.append(rel)

    def op_mkdir(self):
        d = self.pick(self.dirs) or ""
        rel = (d + "/" if d else "") + self.name("d")
        os.mkdir(self.P(rel), self.rng.choice([0o755, 0o750, 0o700, 0o775]))
        self.dirs.append(rel)

    def op_append(self):
        f = self.pick(self.files)
        if f is None:
            return False
        with open(self.P(f), "ab") as fh:
            fh.write(self.data(self.rng.randrange(1, 4096)))

    def op_overwrite(self):
        f = self.pick(self.files)
        if f is None:
            return False
        with open(self.P(f), "r+b") as fh:
            fh.truncate(0)
            fh.write(self.data(self.size()))

    def op_truncate(self):
        f = self.pick(self.files)
        if f is None:
            return False
        sz = os.path.getsize(self.P(f))
        new = self.rng.choice([0, sz // 2, sz + self.rng.randrange(1, 1 << 20)])
        os.truncate(self.P(f), new)

    def op_touch(self):
        f = self.pick(self.files) or self.pick(self.dirs)
        if not f:
            return False
        t = self.rng.randrange(1_000_000_000, 1_700_000_000) * 10**9 + self.rng.randrange(10**9)
        os.utime(self.P(f), ns=(t, t))

    def op_rename_file(self):
        lst = self.files if self.rng.random() < 0.85 else self.links
        f = self.pick(lst)
        if f is None:
            return False
        d = self.pick(self.dirs) or ""
        if self.rng.random() < 0.2:
            other = self.pick(self.files)  # over an existing file
            if other is None or other == f:
                return False
            new = other
        else:
            new = (d + "/" if d else "") + self.name("r")
        os.rename(self.P(f), self.P(new))
        lst.remove(f)
        if new not in self.files and new not in self.links:
            lst.append(new)

    def op_rename_dir(self):
        s = self.pick(self.dirs[1:]) if len(self.dirs) > 1 else None
        if not s:
            return False
        d = self.pick(self.dirs) or ""
        if d == s or d.startswith(s + "/"):
            return False  # into itself
        new = (d + "/" if d else "") + self.name("m")
        os.rename(self.P(s), self.P(new))
        for lst in (self.dirs, self.files, self.links):
            for i, x in enumerate(lst):
                if x == s or x.startswith(s + "/"):
                    lst[i] = new + x[len(s):]

    def op_hardlink(self):
        f = self.pick(self.files)
        if f is None:
            return False
        d = self.pick(self.dirs) or ""
        new = (d + "/" if d else "") + self.name("h")
        os.link(self.P(f), self.P(new))
        self.files.append(new)

    def op_symlink(self):
        d = self.pick(self.dirs) or ""
        new = (d + "/" if d else "") + self.name("s")
        tgt = self.rng.choice(["../x", "nowhere", "f1", "/etc/hostname", "a b/c"])
        os.symlink(tgt, self.P(new))
        self.links.append(new)

    def op_chmod(self):
        if self.rng.random() < 0.7:
            f = self.pick(self.files)
            mode = self.rng.choice([0o644, 0o600, 0o755, 0o640, 0o444, 0o4755, 0o2750])
        else:
            f = self.pick(self.dirs[1:]) if len(self.dirs) > 1 else None
            mode = self.rng.choice([0o755, 0o700, 0o750, 0o1777, 0o2775])
        if not f:
            return False
        os.chmod(self.P(f), mode)

    def op_chown(self):
        f = self.pick(self.files) or None
        if self.rng.random() < 0.3 and len(self.dirs) > 1:
            f = self.pick(self.dirs[1:])
        if not f:
            return False
        os.chown(self.P(f), self.rng.choice(self.UIDS), self.rng.choice(self.UIDS))

    def op_setxattr(self):
        f = self.pick(self.files) if self.rng.random() < 0.8 else \
            (self.pick(self.dirs[1:]) if len(self.dirs) > 1 else None)
        if not f:
            return False
        os.setxattr(self.P(f), "user.k%d" % self.rng.randrange(4),
                    self.data(self.rng.randrange(0, 64)))

    def op_rmxattr(self):
        f = self.pick(self.files)
        if not f:
            return False
        xs = [x for x in os.listxattr(self.P(f)) if x.startswith("user.")]
        if not xs:
            return False
        os.removexattr(self.P(f), self.rng.choice(xs))

    def op_unlink(self):
        lst = self.files if self.rng.random() < 0.8 else self.links
        f = self.pick(lst)
        if f is None:
            return False
        os.unlink(self.P(f))
        lst.remove(f)

    def op_rmtree(self):
        if len(self.dirs) < 6:
            return False
        s = self.pick(self.dirs[1:])
        if not s:
            return False
        shutil.rmtree(self.P(s))
        for lst in (self.dirs, self.files, self.links):
            lst[:] = [x for x in lst if not (x == s or x.startswith(s + "/"))]


def populate(root, rng, dirs=20, files=200):
    """An initial tree (before the rule starts: the initial sync's work)."""
    os.makedirs(root, exist_ok=True)
    st = Storm(root, rng)
    for _ in range(dirs):
        st.op_mkdir()
    for _ in range(files):
        st.op_create()
    for _ in range(files // 10):
        st.op_hardlink()
        st.op_symlink()
        st.op_setxattr()
        st.op_chown()


def main_wrapper(body, prefix, ssh=True):
    """Runs body(env, top) with a fresh ReplEnv; prints PASS or FAIL lines;
    exits with the status. Keeps the directory on failure (prints it)."""
    import traceback
    need_binaries()
    need_tools(ssh=ssh)
    subreaper()
    env = ReplEnv(prefix=prefix)
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
        for w in env.workers:
            w.kill()
        try:
            env.stop()
        except Exception:
            pass
        for x in getattr(env, "sshds", []):
            x.stop()
        if not ok:
            print("loafred log (tail):\n%s" % env.log_text()[-6000:])
            for w in env.workers:
                print("%s log (tail):\n%s" % (w.name, w.log_text()[-3000:]))
        reap_orphans()
        for w in env.workers:
            for d in w.control_dirs:
                shutil.rmtree(d, ignore_errors=True)
        env.cleanup(keep=not ok)
    print("PASS" if ok else "FAILED")
    sys.exit(0 if ok else 1)
