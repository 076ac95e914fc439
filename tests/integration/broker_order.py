#!/usr/bin/env python3
# broker_order.py — per-object order with 4 members of one group.
#
# Four members (broker_member --print-rec: "INDEX TYPE TFID SFID" per
# record, acking each at once) join group g before any record exists; then
# 50 files in 4 directories each get create+write, appends (write+close),
# chmod, chown, setxattr, renames within the tree (same or other
# directory) and, for most, an unlink, in rounds (each round one operation
# per file, in a random order; fixed seed), so records of different
# objects alternate in the journal.
#
# The key of a record is its target FID, for a rename the renamed object
# (SFID), as in docs/design/broker.md. No member fails and each member's
# credit (1024) exceeds the whole workload, so no key ever has to move to
# another member: every record of a key goes to the member its hash picks.
#
# Checks: every journal index was delivered exactly once (no failure, no
# redelivery), with the journal's type and target FID; every record of one
# key went to exactly one member; each member saw each key's records in
# increasing index order; all 4 members got work.
#
# How it fails: a broker that dispatched records of a busy key to another
# member, or round-robin, breaks "one member per key" (most of the 50
# files have 6+ records: spread over 4 members they would collide); one
# that reordered pending records (e.g. sent a redelivered or stashed record
# after a later one of its key) breaks the order check; a dropped or
# duplicated record breaks "exactly once".
# Python 3 stdlib only; needs LOAFRE, LOAFRED and BROKER_MEMBER.
import collections
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_lib import (Failed, Member, journal_indices, register_keeper,  # noqa: E402
                        run_main, stop_all, users, wait_for)

GROUP = "g"
N_MEMBERS = 4
N_FILES = 50
N_DIRS = 4


def workload(env, seed=4):
    """The interleaved operations, in rounds: each round gives one operation
    to every file with operations left, in a random order, then waits until
    the journal moved (loafred's source merges what one object does within
    one flush: rounds keep each file's records apart). Returns how many
    operations were done."""
    rng = random.Random(seed)
    dirs = [os.path.join(env.tree, "d%d" % i) for i in range(N_DIRS)]
    for d in dirs:
        os.mkdir(d)
    path = {}
    plans = {}
    for i in range(N_FILES):
        ops = ["append", "append", "chmod", "chown", "xattr", "rename", "append",
               "rename", "append", "chmod"]
        rng.shuffle(ops)
        ops.insert(0, "create")
        if i % 5:
            ops.append("unlink")
        plans[i] = ops
    serial = 0
    done = 0
    while plans:
        before = users(env)["current_index"]
        order = sorted(plans)
        rng.shuffle(order)
        for i in order:
            op = plans[i].pop(0)
            if not plans[i]:
                del plans[i]
            if op == "create":
                path[i] = os.path.join(rng.choice(dirs), "f%d" % i)
                with open(path[i], "w") as f:
                    f.write("created %d\n" % i)
            elif op == "append":
                with open(path[i], "a") as f:
                    f.write("more %d\n" % i)
            elif op == "chmod":
                os.chmod(path[i], rng.choice([0o600, 0o640, 0o644, 0o664]))
            elif op == "chown":
                os.chown(path[i], 1000 + i, 1000 + i % 7)
            elif op == "xattr":
                os.setxattr(path[i], "user.k%d" % i, b"v")
            elif op == "rename":
                serial += 1
                q = os.path.join(rng.choice(dirs), "f%d.r%d" % (i, serial))
                os.rename(path[i], q)
                path[i] = q
            elif op == "unlink":
                os.unlink(path[i])
            done += 1
        # not a correctness condition: only the shape of the workload
        try:
            wait_for(lambda: users(env)["current_index"] > before, 5, "the journal to move")
        except Failed:
            pass
    return done


def body(env, members):
    env.start()
    register_keeper(env)
    ms = []
    for k in range(N_MEMBERS):
        m = Member(env, GROUP, "--print-rec", "--credit", "1024", "--start", "oldest",
                   name="m%d" % k)
        members.append(m)
        ms.append(m)
        m.wait_ready()  # one at a time: the first creates the group
    start = users(env)["current_index"]
    n_ops = workload(env)
    env.quiesce(quiet=1.0)
    recs = {r["index"]: r for r in env.records(start + 1)}
    want = [i for i in journal_indices(env) if i > start]
    print("%d operations, %d records journaled (%d..%d)" % (n_ops, len(want), want[0],
                                                             want[-1]))

    def total():
        return sum(len(m.recs()) for m in ms)

    wait_for(lambda: set(i for m in ms for i in m.recs()) >= set(want), 120,
             lambda: "every record to reach the group (%d of %d)" % (total(), len(want)))
    stop_all(members)

    # exactly once, with the journal's content
    delivered = collections.Counter(i for m in ms for i in m.recs())
    extra = [i for i in delivered if i not in recs]
    dups = [i for i in want if delivered[i] != 1]
    if extra or dups:
        raise Failed("delivered indices not in the journal %s; not exactly once: %s"
                     % (extra[:20], [(i, delivered[i]) for i in dups[:20]]))
    for m in ms:
        for e in m.rec_events():
            r = recs[e[1]]
            if e[2] != r["type"] or e[3] != r["tfid"]:
                raise Failed("%s got index %d as %s %s, the journal has %s %s"
                             % (m.name, e[1], e[2], e[3], r["type"], r["tfid"]))
    print("ok: all %d records delivered exactly once, as journaled" % len(want))

    owner = {}
    per_member = collections.Counter()
    for m in ms:
        last = {}
        for e in m.rec_events():
            idx, typ, tfid, sfid = e[1], e[2], e[3], e[4]
            key = sfid if typ == "RENME" and sfid != "-" else tfid
            if owner.setdefault(key, m.name) != m.name:
                raise Failed("records of key %s went to %s and %s (index %d)"
                             % (key, owner[key], m.name, idx))
            if key in last and idx <= last[key]:
                raise Failed("%s saw key %s out of order: %d after %d"
                             % (m.name, key, idx, last[key]))
            last[key] = idx
            per_member[m.name] += 1
    multi = collections.Counter()
    for m in ms:
        for e in m.rec_events():
            key = e[4] if e[2] == "RENME" and e[4] != "-" else e[3]
            multi[key] += 1
    busy = sum(1 for k in multi if multi[k] >= 6)
    if busy < N_FILES * 4 // 5:
        raise Failed("only %d keys have 6 or more records (the workload gives each of the "
                     "%d files 11 or 12 operations in separate rounds)" % (busy, N_FILES))
    idle = [m.name for m in ms if per_member[m.name] == 0]
    if idle:
        raise Failed("members got no work: %s (%s)" % (idle, dict(per_member)))
    print("ok: %d keys (%d with 6+ records), each on one member, in index order; "
          "records per member: %s" % (len(owner), busy, dict(sorted(per_member.items()))))


if __name__ == "__main__":
    sys.exit(run_main(body, "loafre-brokeror."))
