#!/usr/bin/env python3
# broker_basic.py — loafred's broker end to end with real processes:
# `loafre tail --group g1` receives every record exactly once, in order;
# a second group g2 receives them all too; an ephemeral reader started
# later sees only later records; the group's position persists (a second
# tail of g1 sees only new records) and `loafre groups` shows it.
# Python 3 stdlib only; needs LOAFRE and LOAFRED.
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_lib import LOAFRE, Failed, need_binaries, run_env_test  # noqa: E402


def tail(env, *args, timeout=120):
    p = subprocess.run([LOAFRE, "-c", env.conf, "tail", "--json"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise Failed("'loafre tail %s' exited %d: %s\nlog:\n%s" % (
            " ".join(args), p.returncode, p.stderr.strip(), env.log_text()[-3000:]))
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def make_ops(env, n, tag):
    """n file operations (create+write, rename, unlink cycles)."""
    d = os.path.join(env.tree, tag)
    os.mkdir(d)
    for i in range(n):
        p = os.path.join(d, "f%d" % i)
        k = i % 3
        if k == 0:
            with open(p, "w") as f:
                f.write("x")
        elif k == 1:
            open(p, "w").close()
            os.rename(p, p + ".r")
        else:
            open(p, "w").close()
            os.unlink(p)


def indices(recs):
    return [r["index"] for r in recs if "index" in r]


def check_exact(name, got, want):
    if got != want:
        dup = sorted({i for i in got if got.count(i) > 1})
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        raise Failed("%s: %d records, want %d; missing %s; duplicated %s; unexpected %s; "
                     "in order: %s" % (name, len(got), len(want), missing[:20], dup[:20],
                                       extra[:20], got == sorted(got)))


def groups_json(env):
    p = env.lf("groups", "--json")
    return json.loads(p.stdout)


def body(env):
    env.start()
    # Both groups exist before the records: a group only holds back
    # what was not yet purged when it was created (records every
    # existing reader cleared are gone, as on a Lustre MDT).
    for g in ("g1", "g2"):
        got = indices(tail(env, "--group", g, "--start", "oldest"))
        if got:
            raise Failed("%s got %d records from an empty journal" % (g, len(got)))
    make_ops(env, 200, "a")
    recs = env.quiesce(quiet=1.0, at_least=200)
    want = indices(recs)
    if len(want) < 200:
        raise Failed("only %d records journaled for 200 operations" % len(want))
    print("journaled %d records (%d..%d)" % (len(want), want[0], want[-1]))

    g1 = indices(tail(env, "--group", "g1"))
    check_exact("g1", g1, want)
    print("ok: g1 received %d records exactly once, in order" % len(g1))

    g2 = indices(tail(env, "--group", "g2"))
    check_exact("g2", g2, want)
    print("ok: g2 received every record too")

    # g1's position appears in `loafre groups` (stats are rewritten
    # every second; clears are batched).
    t0 = time.monotonic()
    g = None
    while time.monotonic() - t0 < 10:
        g = {x["group"]: x for x in groups_json(env)}.get("g1")
        if g and any(m.get("mdt") == env.mdt and m.get("position") == want[-1]
                     for m in g.get("mdts", [])):
            break
        time.sleep(0.25)
    else:
        raise Failed("loafre groups never showed g1 at position %d on %s: %s\n%s" % (
            want[-1], env.mdt, g, env.lf("groups").stdout))
    print("ok: loafre groups shows g1 at %d:\n%s" % (want[-1], env.lf("groups").stdout))

    # An ephemeral reader started now sees only what comes next.
    eph = subprocess.Popen([LOAFRE, "-c", env.conf, "tail", "--ephemeral", "-f", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    make_ops(env, 30, "b")
    later = indices(env.quiesce(quiet=1.0, at_least=30))
    time.sleep(1.0)
    eph.send_signal(signal.SIGTERM)
    out, err = eph.communicate(timeout=20)
    if eph.returncode != 0:
        raise Failed("ephemeral tail exited %d: %s" % (eph.returncode, err))
    e = indices([json.loads(l) for l in out.splitlines() if l.strip()])
    check_exact("ephemeral", e, later)
    print("ok: the ephemeral reader saw exactly the %d later records" % len(e))

    # g1 resumes at its persisted position: only the later records.
    g1b = indices(tail(env, "--group", "g1"))
    check_exact("g1 (resumed)", g1b, later)
    print("ok: g1 resumed after its position")


def main():
    need_binaries()
    return run_env_test(body, prefix="loafre-broker.")


if __name__ == "__main__":
    sys.exit(main())
