# broker_lib.py — shared by broker_restart.py, broker_order.py,
# broker_ephemeral.py and broker_badinput.py (imported, not run).
# Black-box helpers on top of source_lib.Env (loafred on a temp tree with
# its local source): a broker_member child whose output lines are
# collected by a thread, a file-operation workload thread, the journal's
# records (a "keeper" reader that never clears keeps them all readable),
# the group's reader's cleared index, loafred's stats, polling with a
# deadline (proc_lib.wait_for). Python 3 stdlib only.
#
# Needs LOAFRE, LOAFRED, BROKER_MEMBER (and BROKER_RAW for broker_raw).
import json
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proc_lib import wait_for  # noqa: E402,F401
from source_lib import Env, Failed, need_binaries  # noqa: E402,F401

MEMBER = os.environ.get("BROKER_MEMBER", "")
RAW = os.environ.get("BROKER_RAW", "")


def need_helpers(raw=False):
    need_binaries()
    for var, val in (("BROKER_MEMBER", MEMBER),) + ((("BROKER_RAW", RAW),) if raw else ()):
        if not val or not os.access(val, os.X_OK):
            print("FAIL: %s must name the built helper (got %r)" % (var, val))
            sys.exit(1)


def endpoint(env):
    return "ipc://" + os.path.join(env.run_dir, "broker.sock")


class Member:
    """A broker_member child. Its stdout lines are parsed by a thread:
    record lines ("INDEX" or "INDEX TYPE TFID SFID"), "ACKED I", "HELD I",
    "GAP N", "BADACK ...", "READY", "RECONNECTED". Every event is kept in
    arrival order in self.events as tuples:
      ("rec", index, type, tfid, sfid, session)   type etc. None without --print-rec
      ("acked", index, session) ("held", index, session) ("gap", n, session)
      ("badack", line) ("reconnected", session)
    Sessions count from 1 and grow by one per RECONNECTED."""

    def __init__(self, env, group, *args, name="member"):
        self.name = name
        argv = [MEMBER, endpoint(env), group or "-"] + [str(a) for a in args]
        if group is None and "--ephemeral" not in argv:
            argv.append("--ephemeral")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.events = []
        self.session = 1
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.err_lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.te = threading.Thread(target=self._read_err, daemon=True)
        self.te.start()

    def _read(self):
        for line in self.proc.stdout:
            w = line.split()
            if not w:
                continue
            with self.lock:
                if w[0] == "READY":
                    self.ready.set()
                elif w[0] == "RECONNECTED":
                    self.session += 1
                    self.events.append(("reconnected", self.session))
                elif w[0] == "ACKED":
                    self.events.append(("acked", int(w[1]), self.session))
                elif w[0] == "HELD":
                    self.events.append(("held", int(w[1]), self.session))
                elif w[0] == "GAP":
                    self.events.append(("gap", int(w[1]), self.session))
                elif w[0] == "BADACK":
                    self.events.append(("badack", line.strip()))
                elif self._line(w):
                    pass
                elif w[0].isdigit():
                    if len(w) >= 4:
                        self.events.append(("rec", int(w[0]), w[1], w[2], w[3], self.session))
                    else:
                        self.events.append(("rec", int(w[0]), None, None, None, self.session))

    def _line(self, w):
        """A subclass's own line kinds (w: its words, under self.lock):
        True when handled."""
        return False

    def _read_err(self):
        for line in self.proc.stderr:
            with self.lock:
                self.err_lines.append(line.rstrip("\n"))

    def stderr(self):
        with self.lock:
            return "\n".join(self.err_lines)

    def wait_ready(self, timeout=15):
        if not self.ready.wait(timeout):
            raise Failed("member %s did not join within %d s (exit %s): %s"
                         % (self.name, timeout, self.proc.poll(), self.stderr()))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def recs(self, session=None):
        """Indices received, in arrival order (one session, or all)."""
        return [e[1] for e in self.snapshot()
                if e[0] == "rec" and (session is None or e[5] == session)]

    def rec_events(self):
        return [e for e in self.snapshot() if e[0] == "rec"]

    def of_kind(self, kind, session=None):
        return [e[1] for e in self.snapshot()
                if e[0] == kind and (session is None or e[2] == session)]

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=15):
        """SIGTERM (the member sends BYE); waits; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failed("member %s did not exit within %d s of SIGTERM"
                             % (self.name, timeout))
        self.t.join(5)
        self.te.join(5)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def stop_all(members):
    for m in members:
        try:
            m.stop()
        except Exception:
            m.kill()


# ---- journal, readers, stats --------------------------------------------------

def register_keeper(env):
    """Registers a reader that never clears: the journal then purges
    nothing and `loafre changelog` shows every record ever written."""
    env.lf("changelog_register", env.mdt, "-u", "keep")


def journal_indices(env):
    """Every index in the journal (needs the keeper)."""
    return [r["index"] for r in env.records(1)]


def users(env):
    return json.loads(env.lf("changelog_users", "--json", env.mdt).stdout)


def cleared(env, group):
    """The group's reader's cleared index (None if not registered)."""
    for u in users(env)["users"]:
        if u["id"].endswith("-" + group):
            return u["index"]
    return None


def stats(env):
    """loafred's RUN_DIR/stats as {key: int or str} ({} when absent)."""
    p = env.lf("stats", check=False)
    out = {}
    if p.returncode != 0:
        return out
    for line in p.stdout.splitlines():
        k, _, v = line.partition(" ")
        v = v.strip()
        out[k] = int(v) if v.isdigit() else v
    return out


def kill9(env):
    """SIGKILL loafred (no flush, no final clear, no BYE)."""
    env.proc.kill()
    env.proc.wait()
    env.proc = None


def add_broker_section(env, text):
    with open(env.conf, "a") as f:
        f.write("\n[broker]\n" + text)


# ---- workload -----------------------------------------------------------------

class Workload(threading.Thread):
    """File operations in env.tree/TAG until stop() or `ops` operations:
    create+write (CREAT, CLOSE), rename (RENME), unlink (UNLNK) in a cycle.
    `rate` bounds the operations per second (0: as fast as possible)."""

    def __init__(self, env, tag, ops=0, rate=0, seed=1):
        super().__init__(daemon=True)
        self.dir = os.path.join(env.tree, tag)
        os.makedirs(self.dir, exist_ok=True)
        self.ops = ops
        self.rate = rate
        self.done = 0
        self.error = None
        self._halt = threading.Event()
        self.rng = random.Random(seed)

    def stop(self):
        self._halt.set()
        self.join(60)
        if self.error:
            raise Failed("workload failed: %s" % self.error)

    def run(self):
        live = []
        n = 0
        t0 = time.monotonic()
        try:
            while not self._halt.is_set() and (self.ops == 0 or self.done < self.ops):
                k = self.rng.randrange(4)
                if k <= 1 or len(live) < 8:
                    p = os.path.join(self.dir, "f%d" % n)
                    n += 1
                    with open(p, "w") as f:
                        f.write("x" * self.rng.randrange(1, 64))
                    live.append(p)
                elif k == 2:
                    i = self.rng.randrange(len(live))
                    p = live[i]
                    q = os.path.join(self.dir, "r%d" % n)
                    n += 1
                    os.rename(p, q)
                    live[i] = q
                else:
                    p = live.pop(self.rng.randrange(len(live)))
                    os.unlink(p)
                self.done += 1
                if self.rate:
                    ahead = self.done / self.rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError as e:
            self.error = str(e)


class Sampler(threading.Thread):
    """Samples the group's cleared index every `interval` s: self.samples
    is a list of (monotonic time, cleared, journal current index)."""

    def __init__(self, env, group, interval=0.1):
        super().__init__(daemon=True)
        self.env = env
        self.group = group
        self.interval = interval
        self.samples = []
        self.errors = []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                u = users(self.env)
                c = None
                for x in u["users"]:
                    if x["id"].endswith("-" + self.group):
                        c = x["index"]
                if c is not None:
                    self.samples.append((time.monotonic(), c, u["current_index"]))
            except Exception as e:  # a failed CLI run: kept for the report
                self.errors.append(str(e))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(30)


def run_main(body, prefix, raw=False, conf_extra=None):
    """Runs body(env) with a fresh Env; prints PASS/FAIL; returns the exit
    status. The temp directory is kept on failure."""
    import traceback
    need_helpers(raw)
    env = Env(prefix=prefix)
    if conf_extra:
        add_broker_section(env, conf_extra)
    ok = False
    members = []
    try:
        body(env, members)
        ok = True
    except Failed as e:
        print("FAIL: %s" % e)
    except Exception:
        traceback.print_exc()
        print("FAIL: unexpected exception")
    finally:
        for m in members:
            m.kill()
        try:
            env.stop()
        except Exception:
            pass
        if not ok:
            print("loafred log (tail):\n%s" % env.log_text()[-4000:])
        env.cleanup(keep=not ok)
    if ok:
        print("PASS")
    return 0 if ok else 1
