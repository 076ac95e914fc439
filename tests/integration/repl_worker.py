#!/usr/bin/env python3
# repl_worker.py — replication workers end to end (issue 6, part 3;
# lib/repl_worker.c, `loafre worker`). Python 3 stdlib only, black-box.
#
# loafred on a temp tree (source_lib.Env, filesystem "t") with a rule "r"
# replicating /proj to two local destinations; `loafre worker --rule r`
# processes join the rule's group (loafred may run the rule's workers too:
# then they are just more members of the group). A tree that exists before
# is brought over by the initial sync; then creates, appends, renames of
# files and directories, hard links, symlinks, chmod, deletes; a worker
# SIGKILLed in the middle of a second round (its unacked records are
# redelivered; it is started again). A second rule copies with a command
# template that fails until a file exists: its records go to the failed
# list after 5 retries, and a retry request (failed renamed to retry)
# brings them over once it works. After each round: wait until the
# group has acked the journal's last index, then `loafre verify --checksum`
# and `diff -r` must find each destination equal to the source, and the
# hard links of the source must be hard links at the destinations.
#
# Needs LOAFRE and LOAFRED; root (the local source's fanotify). 77 = skipped.
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_lib import LOAFRE, Env, Failed, need_binaries  # noqa: E402


def sh(cmd):
    p = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True)
    if p.returncode != 0:
        raise Failed("'%s' failed: %s" % (cmd, p.stderr.strip()))


WORKERS = []  # every worker started (killed at the end)


class Worker:
    """A `loafre worker --rule r -v` child; its stderr goes to a file."""

    def __init__(self, env, n, *extra, rule="r"):
        self.log = os.path.join(env.base, "worker%d.log" % n)
        f = open(self.log, "ab")
        self.p = subprocess.Popen([LOAFRE, "-c", env.conf, "worker", "--rule", rule, "-v"] +
                                  list(extra), stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        f.close()
        WORKERS.append(self)

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise Failed("loafre worker did not stop within 30 s of SIGTERM")
        return self.p.returncode

    def kill9(self):
        self.p.kill()
        self.p.wait()


def last_index(env):
    p = env.lf("changelog_users", "--json", env.mdt, check=False)
    if p.returncode != 0:
        return 0
    return json.loads(p.stdout).get("current_index", 0)


def group_position(env):
    p = env.lf("groups", "--json", check=False)
    if p.returncode != 0:
        return None
    for g in json.loads(p.stdout or "[]"):
        if g["group"] == "rep-r":
            return min((m["position"] for m in g["mdts"]), default=0)
    return None


def wait_acked(env, timeout=120):
    """Waits until the journal is quiet and the group acked its last index."""
    t0 = time.monotonic()
    stable = 0
    while time.monotonic() - t0 < timeout:
        last = last_index(env)
        pos = group_position(env)
        if pos is not None and last and pos >= last:
            stable += 1
            if stable >= 3:  # nothing new for a while: the watcher is done too
                return
        else:
            stable = 0
        time.sleep(0.3)
    raise Failed("the group rep-r did not ack everything within %d s (position %s, "
                 "journal's last index %s)" % (timeout, group_position(env), last_index(env)))


def check_same(env, dests):
    src = os.path.join(env.tree, "proj")
    for d in dests:
        p = subprocess.run([LOAFRE, "verify", src, d, "--checksum"], capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise Failed("loafre verify %s %s: exit %d:\n%s%s" % (src, d, p.returncode,
                                                                  p.stdout, p.stderr))
        p = subprocess.run(["diff", "-r", "--no-dereference", src, d], capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise Failed("diff -r %s %s:\n%s%s" % (src, d, p.stdout, p.stderr))


def round1(t):
    """Creates, appends, renames (files, directories), hard links,
    symlinks, chmod, deletes."""
    sh("mkdir -p %s/proj/new/deep && echo one > %s/proj/new/deep/f1" % (t, t))
    sh("for i in 1 2 3 4 5 6 7 8; do echo $i > %s/proj/new/n$i; done" % t)
    sh("echo appended >> %s/proj/old/a" % t)
    sh("mv %s/proj/old/b %s/proj/new/b-renamed" % (t, t))
    sh("mv %s/proj/olddir %s/proj/movedir" % (t, t))
    sh("ln %s/proj/new/n1 %s/proj/new/n1-link" % (t, t))
    sh("ln %s/proj/new/n2 %s/proj/new/deep/n2-link" % (t, t))
    sh("ln -s ../old/a %s/proj/new/sym" % t)
    sh("chmod 0600 %s/proj/new/n3 && chmod 0700 %s/proj/new/deep" % (t, t))
    sh("rm %s/proj/new/n4 && rm -r %s/proj/gone" % (t, t))
    sh("mkdir %s/outside && echo x > %s/outside/o && mv %s/outside %s/proj/came-in"
       % (t, t, t, t))
    sh("mv %s/proj/new/n5 %s/left" % (t, t))
    sh("dd if=/dev/urandom of=%s/proj/new/big bs=64k count=16 2>/dev/null" % t)
    sh("truncate -s 100 %s/proj/new/n6" % t)


def round2(t, k):
    """A busier round (the worker is killed in the middle of it)."""
    sh("mkdir -p %s/proj/r2_%d" % (t, k))
    for i in range(40):
        sh("echo %d > %s/proj/r2_%d/f%d" % (i, t, k, i))
    sh("mv %s/proj/r2_%d %s/proj/r2_%d_moved" % (t, k, t, k))
    for i in range(0, 40, 3):
        sh("echo more >> %s/proj/r2_%d_moved/f%d" % (t, k, i))
    for i in range(1, 40, 5):
        sh("rm %s/proj/r2_%d_moved/f%d" % (t, k, i))
    sh("ln %s/proj/r2_%d_moved/f0 %s/proj/r2_%d_moved/f0-link" % (t, k, t, k))


def body(env):
    t = env.tree
    d1 = os.path.join(env.base, "d1")
    d2 = os.path.join(env.base, "d2")
    os.mkdir(d1)
    os.mkdir(d2)
    # what the initial sync brings over
    sh("mkdir -p %s/proj/old %s/proj/olddir/sub %s/proj/gone/x %s/proj/keep" % (t, t, t, t))
    sh("echo a > %s/proj/old/a && echo b > %s/proj/old/b && echo s > %s/proj/olddir/sub/s"
       % (t, t, t))
    sh("echo g > %s/proj/gone/x/g && ln %s/proj/old/a %s/proj/keep/a-link" % (t, t, t))
    sh("ln -s old/a %s/proj/keep-sym && echo not > %s/not-replicated" % (t, t))
    d3 = os.path.join(env.base, "d3")
    os.mkdir(d3)
    os.mkdir(os.path.join(t, "tmpl"))
    allow = os.path.join(env.base, "allow")
    with open(env.conf, "a") as f:
        f.write("\n[rule r]\nfilesystem = t\nsource = /proj\n"
                "destination = %s\ndestination = %s\nworkers = 2\n" % (d1, d2))
        # copies by a command that fails until the file `allow` exists
        f.write("\n[rule c]\nfilesystem = t\nsource = /tmpl\ndestination = %s\n"
                "workers = 1\ncopy = /bin/sh -c '[ -e %s ] && exec cp \"$0\" \"$1\"' "
                "%%{src} %%{dst}\n" % (d3, allow))
    env.start()
    # a reader that never clears: the journal keeps every record (kept with
    # the temp directory when the test fails, for `loafre changelog`)
    env.lf("changelog_register", env.mdt, "-u", "keep")
    w1 = Worker(env, 1, "--threads", "2")
    w2 = Worker(env, 2)
    wc = Worker(env, 5, rule="c")
    state = os.path.join(env.journal, "replication", "r")
    t0 = time.monotonic()
    while not (os.path.exists(os.path.join(state, "synced.0")) and
               os.path.exists(os.path.join(state, "synced.1"))):
        if time.monotonic() - t0 > 60:
            raise Failed("no initial sync within 60 s; worker log:\n%s" % w1.text())
        if w1.p.poll() is not None:
            raise Failed("loafre worker exited %d:\n%s" % (w1.p.returncode, w1.text()))
        time.sleep(0.1)
    for name in ("synced.0", "synced.1"):
        with open(os.path.join(state, name)) as f:
            want = (d1 if name == "synced.0" else d2) + "\n"
            if f.read() != want:
                raise Failed("%s does not hold the destination's spec" % name)
    if os.path.exists(os.path.join(d1, "not-replicated")):
        raise Failed("a file outside the rule's source reached the destination")
    time.sleep(1.0)  # every member joined
    check_same(env, [d1, d2])

    round1(t)
    wait_acked(env)
    check_same(env, [d1, d2])
    for d in (d1, d2):
        a = os.stat(os.path.join(d, "new", "n1"))
        b = os.stat(os.path.join(d, "new", "n1-link"))
        if a.st_ino != b.st_ino:
            raise Failed("n1 and n1-link are not one file at %s" % d)

    # a worker killed in the middle, started again: still converges
    w3 = Worker(env, 3)
    time.sleep(0.5)
    round2(t, 1)
    w1.kill9()
    round2(t, 2)
    w1 = Worker(env, 4, "--threads", "2")
    round2(t, 3)
    wait_acked(env)
    check_same(env, [d1, d2])

    # a command template failing: 5 retries, then the failed list, acked;
    # a retry request once it works re-syncs the listed paths
    cstate = os.path.join(env.journal, "replication", "c")
    sh("echo one > %s/tmpl/c1 && echo two > %s/tmpl/c2" % (t, t))
    t0 = time.monotonic()
    while True:
        try:
            with open(os.path.join(cstate, "failed")) as f:
                text = f.read()
        except OSError:
            text = ""
        if "/tmpl/c1\t" in text and "/tmpl/c2\t" in text:
            break
        if time.monotonic() - t0 > 90:
            raise Failed("the failing copies did not reach the failed list:\n%s" % text)
        time.sleep(0.2)
    for line in text.splitlines():
        f = line.split("\t")
        if len(f) != 9 or f[3] != "copy" or f[4] != "-5" or f[5] != d3 or \
                "exited with status 1" not in f[8]:
            raise Failed("unexpected failed list line %r" % line)
    if os.listdir(d3):
        raise Failed("a failing copy left %s at the destination" % os.listdir(d3))
    open(allow, "w").close()
    os.rename(os.path.join(cstate, "failed"), os.path.join(cstate, "retry"))
    t0 = time.monotonic()
    while sorted(os.listdir(d3)) != ["c1", "c2"] or \
            os.path.exists(os.path.join(cstate, "retry")):
        if time.monotonic() - t0 > 60:
            raise Failed("the retry did not copy c1 and c2: %s" % os.listdir(d3))
        time.sleep(0.2)
    with open(os.path.join(d3, "c2")) as f:
        if f.read() != "two\n":
            raise Failed("c2 has the wrong content after the retry")

    for w in (w1, w2, w3, wc):
        rc = w.stop()
        if rc != 0:
            raise Failed("loafre worker exited %d on SIGTERM:\n%s" % (rc, w.text()))
    text = w2.text() + w3.text() + w1.text()
    if "rule.r.acked" not in text:
        raise Failed("no statistics printed by loafre worker -v:\n%s" % text)
    acked = sum(int(l.split()[1]) for l in text.splitlines() if l.startswith("rule.r.acked "))
    if acked == 0:
        raise Failed("the loafre worker processes acked nothing:\n%s" % text)
    failed = os.path.join(state, "failed")
    if os.path.exists(failed) and os.path.getsize(failed) > 0:
        with open(failed) as f:
            raise Failed("entries in the failed list:\n%s" % f.read())


def main():
    need_binaries()
    if os.geteuid() != 0:
        print("skipped: needs root (the local source's fanotify)")
        return 77
    env = Env(prefix="loafre-replworker.")
    ok = False
    try:
        body(env)
        ok = True
    except Failed as e:
        print("FAIL: %s" % e)
    except Exception:
        import traceback
        traceback.print_exc()
        print("FAIL: unexpected exception")
    finally:
        for w in WORKERS:
            if w.p.poll() is None:
                w.kill9()
        try:
            env.stop()
        except Exception:
            pass
        if not ok:
            print("loafred log (tail):\n%s" % env.log_text()[-4000:])
            for n in range(1, 6):
                p = os.path.join(env.base, "worker%d.log" % n)
                if os.path.exists(p):
                    with open(p, "rb") as f:
                        print("worker%d log (tail):\n%s" % (n, f.read()[-3000:].decode(
                            "utf-8", "replace")))
        env.cleanup(keep=not ok)
    if ok:
        print("PASS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
