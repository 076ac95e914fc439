#!/usr/bin/env python3
"""repl_storm.py — a random operation storm replicated to three destinations
(issue 6, §5): two local directories and one over SSH to a private sshd on
127.0.0.1 (a port of its own, keys generated here; the rule's destination
line `root@127.0.0.1:/path port=N identity=KEY known_hosts=FILE`).

loafred runs the rule's worker. First an initial tree (the initial sync's
work); then targeted sequences in one burst (tree/seq/NAME: files written
then their directory renamed, attributes changed then an ancestor renamed,
renames into a directory made just before, a hard-link dance, a directory
renamed then filled, names changing type); then a seeded storm on the live
tree: creates, appends, overwrites,
truncates (growing ones make holes), renames of files (also over other
files) and of directories across the tree, hard links, symlinks, chmod,
chown, user.* xattrs set and removed, utimes, unlinks, mkdir, rmdir of whole
trees. After each phase: wait until the rule's broker group has acked every
record loafred wrote (`loafre rule status` then shows lag 0), then
`loafre verify RULE --checksum` exits 0 and prints nothing, `diff -r` finds
nothing, and an independent comparison (type, size, content, mode, owner,
mtime, symlink targets, user.* xattrs, hard-link structure) finds nothing on
every destination (the SSH one is on this machine too). The source is not
modified by replication (its snapshot is the same before and after the
wait). No temporary names are left at the destinations (they would be
"extra" entries).

Usage: repl_storm.py [--seed N] [--ops N] [--phases N]. The seed is printed
(default: from the clock; LOAFRE_REPL_SEED=N too). Exit 77: sshd, rsync or
root missing. Env: LOAFRE, LOAFRED; LOAFRE_KEEP=1 keeps the temp directory.
"""
import argparse
import os
import random
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from repl_lib import (Failed, Sshd, Storm, compare_trees, diff_r, main_wrapper,  # noqa: E402
                      populate, settled, snapshot)

RULE = "storm"


def check_replicas(env, dests, what, settle=20):
    """The destinations equal the source (check_replicas_once), once the
    worker's idle checks had their time (repl_lib.settled)."""
    settled(lambda: check_replicas_once(env, dests, what), settle, interval=1)


def check_replicas_once(env, dests, what):
    env.verify_ok(RULE, what)
    for d in dests:
        out = diff_r(env.tree, d)
        if out:
            raise Failed("%s: diff -r %s %s:\n%s" % (what, env.tree, d, out[-3000:]))
        diffs = compare_trees(env.tree, d)
        if diffs:
            raise Failed("%s: %s differs from the source (and verify said nothing):\n  %s"
                         % (what, d, "\n  ".join(diffs)))


def check_status(env):
    """`loafre rule status RULE`: exit 0; in its --json form lag 0 (records
    and seconds), state running, every destination ok, the failed list
    empty. (FAILED per destination counts failed attempts, also those that
    fell back or succeeded on a retry: printed, not checked.)"""
    p = env.status(RULE)
    if p.returncode != 0:
        raise Failed("`loafre rule status %s` exited %d: %s"
                     % (RULE, p.returncode, (p.stderr or p.stdout).strip()))
    r = env.status_json(RULE)
    if r.get("lag") != 0 or r.get("lag_seconds") not in (0, 0.0) or r.get("state") != "running":
        raise Failed("rule status after convergence: state %r, lag %r, lag_seconds %r:\n%s"
                     % (r.get("state"), r.get("lag"), r.get("lag_seconds"), p.stdout))
    dests = r.get("destinations") or []
    if len(dests) != 3 or any(d.get("state") != "ok" for d in dests) or r.get("failed_list"):
        raise Failed("rule status after convergence: failed list %r, destinations %r"
                     % (r.get("failed_list"), dests))
    print("rule status: %s" % ", ".join("%s done %s failed %s" % (
        d.get("destination"), d.get("done"), d.get("failed")) for d in dests))
    return r


# ---- targeted sequences ---------------------------------------------------------
# Each runs in tree/seq/NAME: setup(P) in the initial tree (before loafred
# starts: the initial sync's), action(P) in one burst with the others once
# the rule converged; then the replicas must equal the source. They are the
# operation orders found to go wrong (written as the shortest sequence), so
# a regression fails here the same way in every run, not only for some seeds.

def _w(path, data=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "ab") as f:
        f.write(data)


def seq_burst_then_rename(P):
    """Files written into a directory and its subdirectory, then the
    directory renamed before the worker saw them."""
    os.makedirs(P("sub/deeper"))
    for i in range(20):
        _w(P("sub/f%d" % i if i % 2 else "sub/deeper/f%d" % i), os.urandom(3000 + i))
    os.rename(P("sub"), P("moved"))


def seq_attrs_then_rename_ancestor_setup(P):
    _w(P("a/d/f"), b"one\n")


def seq_attrs_then_rename_ancestor(P):
    """A directory's xattr, a file's content and mode changed, then an
    ancestor renamed: the changes are read from the object's new place."""
    os.setxattr(P("a/d"), "user.k1", b"v")
    _w(P("a/d/f"), b"two\n")
    os.chmod(P("a/d/f"), 0o600)
    os.rename(P("a"), P("b"))


def seq_rename_into_new_dir_setup(P):
    for i in range(20):
        _w(P("x%d" % i), b"x\n")
    os.symlink("x0", P("sx"))


def seq_rename_into_new_dir(P):
    """Entries renamed into directories created just before (the MKDIR and
    the RENME go to different members: the rename may come first)."""
    for i in range(20):
        os.mkdir(P("n%d" % i))
        os.rename(P("x%d" % i), P("n%d/y" % i))
    os.rename(P("sx"), P("n0/sy"))


def seq_hard_links(P):
    """Hard links made, renamed and removed while content, mode and xattrs
    of the file change; the first name renamed onto another directory."""
    _w(P("f"), b"a\n")
    for d in "ABCDE":
        os.mkdir(P(d))
    os.link(P("f"), P("A/h1"))
    os.rename(P("A/h1"), P("B/r1"))
    os.truncate(P("f"), 100)
    os.link(P("f"), P("B/h2"))
    os.link(P("f"), P("B/h3"))
    os.link(P("f"), P("h4"))
    os.chmod(P("f"), 0o4755)
    os.truncate(P("f"), 200)
    for n in ("B/r1", "B/h3", "B/h2"):
        os.unlink(P(n))
    os.link(P("f"), P("C/h5"))
    os.setxattr(P("f"), "user.k0", b"x")
    os.rename(P("f"), P("D/h6"))
    os.link(P("D/h6"), P("E/r7"))


def seq_dir_rename_then_create(P):
    """A directory renamed, then entries created in it under its new name."""
    os.mkdir(P("d"))
    os.rename(P("d"), P("e"))
    _w(P("e/f"), b"f\n")
    os.mkdir(P("e/g"))
    _w(P("e/g/h"), b"h\n")


def seq_type_changes_setup(P):
    _w(P("file-then-dir"), b"f\n")
    os.mkdir(P("dir-then-file"))
    _w(P("dir-then-file/in"), b"in\n")
    os.symlink("nowhere", P("link-then-file"))


def seq_type_changes(P):
    """A name changes type: file -> directory, directory -> file,
    symlink -> file."""
    os.unlink(P("file-then-dir"))
    os.mkdir(P("file-then-dir"))
    _w(P("file-then-dir/x"), b"x\n")
    shutil.rmtree(P("dir-then-file"))
    _w(P("dir-then-file"), b"now a file\n")
    os.unlink(P("link-then-file"))
    _w(P("link-then-file"), b"now a file\n")


SEQUENCES = [
    ("burst_rename", None, seq_burst_then_rename),
    ("attrs_rename", seq_attrs_then_rename_ancestor_setup, seq_attrs_then_rename_ancestor),
    ("into_new_dir", seq_rename_into_new_dir_setup, seq_rename_into_new_dir),
    ("hard_links", None, seq_hard_links),
    ("dir_rename_create", None, seq_dir_rename_then_create),
    ("type_changes", seq_type_changes_setup, seq_type_changes),
]


def seq_dir(env, name):
    base = os.path.join(env.tree, "seq", name)
    return lambda rel: os.path.join(base, rel)


def body(env, args):
    seed = args.seed
    print("seed %d (replay: repl_storm.py --seed %d)" % (seed, seed))
    rng = random.Random(seed)
    env.sshds = []
    sshd = Sshd(env.base)
    sshd.start()
    env.sshds.append(sshd)
    d1, d2, d3 = env.path("d1"), env.path("d2"), env.path("d3")
    for d in (d1, d2, d3):
        os.mkdir(d)
    populate(env.tree, rng, dirs=8, files=40)
    for name, setup, _action in SEQUENCES:
        os.makedirs(os.path.join(env.tree, "seq", name))
        if setup:
            setup(seq_dir(env, name))
    env.write_rule(RULE, ["destination = " + d1, "destination = " + d2,
                          "destination = " + sshd.spec(d3)])
    env.start()

    t0 = time.monotonic()
    env.wait_converged(RULE, timeout=120)
    print("initial sync converged in %.1f s" % (time.monotonic() - t0))
    check_replicas(env, (d1, d2, d3), "after the initial sync")

    for name, _setup, action in SEQUENCES:
        action(seq_dir(env, name))
    waited = env.wait_converged(RULE, timeout=120)
    print("targeted sequences (%s): converged %.1f s after the journal went quiet"
          % (" ".join(n for n, _s, _a in SEQUENCES), waited))
    check_replicas(env, (d1, d2, d3), "after the targeted sequences (tree/seq/NAME)")

    storm = Storm(env.tree, rng)
    for ph in range(args.phases):
        t0 = time.monotonic()
        storm.run(args.ops, pause_every=100, pause=0.05)
        t_storm = time.monotonic() - t0
        before = snapshot(env.tree)
        waited = env.wait_converged(RULE, timeout=120)
        print("phase %d: %d operations in %.1f s (%s; refused: %s); converged %.1f s after "
              "the journal went quiet" % (
                  ph + 1, args.ops, t_storm,
                  " ".join("%s=%d" % kv for kv in sorted(storm.counts.items())),
                  " ".join("%s=%d" % kv for kv in sorted(storm.failed.items())) or "none",
                  waited))
        if snapshot(env.tree) != before:
            raise Failed("the source changed while the rule caught up (replication wrote to it?)")
        check_replicas(env, (d1, d2, d3), "after storm phase %d (seed %d)" % (ph + 1, seed))
    check_status(env)
    check_verify_sees(env, (d1, d2, d3))


def check_verify_sees(env, dests):
    """verify RULE does compare every destination: a content change (same
    size and mtime) in the first, a mode change in the second and an extra
    file in the ssh one are each reported (exit 1)."""
    env.stop()  # nothing replicates behind our back
    files = sorted(r for r, a in snapshot(dests[0])[0].items()
                   if a["type"] == "file" and a["size"] > 0)
    if not files:
        raise Failed("no file with data at the destinations")
    rel = files[0]
    p1 = os.path.join(dests[0], rel)
    st = os.stat(p1)
    with open(p1, "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 0xff]))
    os.utime(p1, ns=(st.st_atime_ns, st.st_mtime_ns))
    p2 = os.path.join(dests[1], rel)
    os.chmod(p2, (os.stat(p2).st_mode & 0o777) ^ 0o070)
    p3 = os.path.join(dests[2], "extra-at-the-destination")
    with open(p3, "w") as f:
        f.write("x\n")
    p = env.verify(RULE, "--checksum")
    want = ["content: " + rel, "mode: " + rel, "extra: extra-at-the-destination"]
    if p.returncode != 1 or not all(w in p.stdout for w in want):
        raise Failed("verify of mutated replicas exited %d (expected 1, naming %s):\n%s%s"
                     % (p.returncode, want, p.stdout[-3000:], p.stderr[-1000:]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("LOAFRE_REPL_SEED", "0")) or
                    int(time.time() * 1000) % 1000000007)
    ap.add_argument("--ops", type=int, default=200, help="operations per phase")
    ap.add_argument("--phases", type=int, default=2)
    args = ap.parse_args()
    main_wrapper(lambda env: body(env, args), "loafre-replstorm.")


if __name__ == "__main__":
    main()
