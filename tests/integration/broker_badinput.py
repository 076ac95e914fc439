#!/usr/bin/env python3
# broker_badinput.py — bad input to loafred's broker, while a good member
# of group g receives a steady stream of records:
#
#   - broker_raw (raw ZeroMQ, tests/integration/broker_raw.c): an unknown
#     command, missing / extra / too many frames, a truncated ACK, a bad
#     ACK range, an oversized HELLO, ACK before HELLO, HELLOs with an
#     unknown option, a bad or too long group name, no group, a bad credit,
#     an ephemeral reader with start=, a new group starting at an unknown
#     MDT; then, joined to g with credit 1: an ACK for an index never
#     delivered, an ACK for the record it holds together with one never
#     delivered, an ACK for an unknown MDT id, HELLO twice, CREDIT 0, a
#     broker-to-client command (WELCOME); as an ephemeral reader: an ACK;
#     and a frame over the broker's message size limit (ZeroMQ drops that
#     connection: no answer);
#   - broker_member (consumer.h): --bad-ack (the library refuses an ack for
#     an index it never received, before the broker sees it), --start-at
#     an unknown MDT (the broker's refusal comes back from open), an
#     invalid group name (refused by the library's own check).
#
# Checks: each bad client gets ERR with the expected errno and text; each
# of those is in loafred's log; the stats' broker.bad_frames grows by at
# least the number of malformed messages; the good member never gets an
# error, keeps receiving, and the group's position keeps advancing; the
# record the raw member held (and acked only together with a bad range)
# goes back to the group when it leaves; afterwards every journal index
# reached the group and the group's reader is cleared to the end (so no
# bad ack marked anything); no reader was registered for the refused group.
#
# How it fails: an ERR sent to the wrong client makes the good member exit
# (its recv returns the error); a broker that applied the valid range of
# the mixed ACK would never redeliver that record (the coverage check);
# one that crashed or stopped serving stops the good member's stream; a
# missing log line, counter or text fails its own check.
# Python 3 stdlib only; needs LOAFRE, LOAFRED, BROKER_MEMBER, BROKER_RAW.
import errno
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_lib import (RAW, Failed, Member, Workload, cleared, endpoint,  # noqa: E402
                        journal_indices, register_keeper, run_main, stats, stop_all,
                        users, wait_for)

GROUP = "g"
NEVER = 1000000000000

# case -> (errno, text the ERR must contain, counted as a bad frame)
# (None: the answer is not an ERR; see the checks below.)
EXPECT = {
    "garbage": (errno.EPROTO, "unknown command", True),
    "missing-frame": (errno.EBADMSG, "HELLO: 1 frames, expected 2", True),
    "truncated-ack": (errno.EBADMSG, "ACK: 10 bytes is not a number of ranges", True),
    "short-ack-mdt": (errno.EBADMSG, "ACK: mdt id is not 4 bytes", True),
    "bad-range": (errno.EBADMSG, "ACK: bad range 5-3", True),
    "oversized-hello": (errno.EMSGSIZE, "HELLO: options over 4096 bytes", True),
    "too-many-frames": (errno.EBADMSG, "too many frames", True),
    "many-frames": (errno.EBADMSG, "too many frames", True),
    "ack-before-hello": (errno.ENOTCONN, "not a member: send HELLO first", True),
    "hello-unknown-option": (errno.EINVAL, "HELLO: unknown option 'bogus'", True),
    "hello-bad-group": (errno.EINVAL, "HELLO: group: bad name", True),
    "hello-long-group": (errno.EINVAL, "HELLO: group: bad name", True),
    "hello-no-group": (errno.EINVAL, "HELLO: group=NAME or ephemeral is required", True),
    "hello-bad-credit": (errno.EINVAL, "HELLO: credit: expected 1..1048576", True),
    "hello-eph-start": (errno.EINVAL, "HELLO: start: an ephemeral reader starts at the end",
                        True),
    "hello-unknown-mdt": (errno.ENOENT, "group rawnewgrp: start: unknown MDT nosuch-MDT0000",
                          False),
    "session-hello": None,
    "member-ack-never": (errno.EINVAL, "ACK: index %d of {mdt} was never delivered" % NEVER,
                         True),
    "member-ack-mixed": (errno.EINVAL, "ACK: index %d of {mdt} was never delivered" % NEVER,
                         True),
    "member-ack-unknown-mdt": (errno.ENOENT, "ACK: unknown MDT id 999", True),
    "member-hello-again": (errno.EISCONN, "HELLO: already a member", True),
    "member-credit-zero": (errno.EBADMSG, "CREDIT: 0 out of 1..1048576", True),
    "member-welcome": (errno.EPROTO, "WELCOME is not a command for the broker", True),
    "member-bye": None,
    "eph-hello": None,
    "eph-ack": (errno.EINVAL, "ACK: an ephemeral reader never acks", True),
    "eph-bye": None,
    "huge-frame": None,
}


def parse_raw(out):
    """{case: (kind, rest)} and the indices of the RECS the member got."""
    cases, recs = {}, []
    for line in out.splitlines():
        w = line.split(" ", 3)
        if w[0] == "CASE" and len(w) >= 3:
            cases[w[1]] = (w[2], w[3] if len(w) > 3 else "")
        elif w[0] == "RECS" and len(w) > 1 and w[1].isdigit():
            recs.append(int(w[1]))
    return cases, recs


def body(env, members):
    env.start()
    register_keeper(env)
    good = Member(env, GROUP, "--credit", "100", "--start", "oldest", name="good")
    members.append(good)
    good.wait_ready()
    work = Workload(env, "w", rate=300)
    work.start()
    wait_for(lambda: len(good.recs()) >= 100, 60, "the good member to receive 100 records")
    wait_for(lambda: "broker.bad_frames" in stats(env), 10, "broker counters in the stats")
    bad0 = stats(env)["broker.bad_frames"]
    log0 = len(env.log_text())
    pos0 = cleared(env, GROUP)

    # ---- raw ZeroMQ --------------------------------------------------------
    p = subprocess.run([RAW, endpoint(env), GROUP, env.mdt], capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        raise Failed("broker_raw exited %d: %s" % (p.returncode, p.stderr.strip()))
    cases, raw_recs = parse_raw(p.stdout)
    problems = []
    for case, exp in EXPECT.items():
        got = cases.get(case)
        if got is None:
            problems.append("%s: no answer line" % case)
        elif exp is None:
            continue
        elif got[0] != "ERR":
            problems.append("%s: %s %s, want ERR" % (case, got[0], got[1]))
        else:
            num, _, text = got[1].partition(" ")
            want_text = exp[1].format(mdt=env.mdt)
            if int(num) != -exp[0] or want_text not in text:
                problems.append("%s: ERR %s %r, want ERR %d containing %r"
                                % (case, num, text, -exp[0], want_text))
    for case, kind in (("session-hello", "WELCOME"), ("eph-hello", "WELCOME"),
                       ("member-bye", "SENT"), ("eph-bye", "SENT"), ("huge-frame", "NOREPLY")):
        if cases.get(case, ("",))[0] != kind:
            problems.append("%s: %s, want %s" % (case, cases.get(case), kind))
    if problems:
        raise Failed("broker_raw answers:\n  %s\nfull output:\n%s"
                     % ("\n  ".join(problems), p.stdout))
    if not raw_recs:
        raise Failed("the raw member of %s never received a record:\n%s" % (GROUP, p.stdout))
    print("ok: %d raw bad inputs each got the expected ERR (the raw member held record %d)"
          % (sum(1 for e in EXPECT.values() if e), raw_recs[0]))

    # ---- through consumer.h ------------------------------------------------
    ba = Member(env, GROUP, "--bad-ack", NEVER, "--count", "5", name="badack")
    members.append(ba)
    ba.wait_ready()
    if ba.proc.wait(60) != 0:
        raise Failed("the --bad-ack member exited %s: %s" % (ba.proc.returncode, ba.stderr()))
    ba.t.join(5)
    lines = [e[1] for e in ba.snapshot() if e[0] == "badack"]
    if not lines or lines[0].split()[2] != str(-errno.ENOENT):
        raise Failed("--bad-ack %d: %s, want BADACK %d %d" % (NEVER, lines, NEVER,
                                                             -errno.ENOENT))
    print("ok: consumer.h refused the ack of an index never received: %s" % lines[0])

    unk = Member(env, "gunknown", "--start-at", "nosuch-MDT0000:1", name="unknown-mdt")
    members.append(unk)
    rc = unk.proc.wait(30)
    unk.te.join(5)
    want = "start: unknown MDT nosuch-MDT0000"
    if rc != 1 or want not in unk.stderr():
        raise Failed("a member starting at an unknown MDT exited %d with %r, want 1 and %r"
                     % (rc, unk.stderr(), want))
    print("ok: start at an unknown MDT refused: %s" % unk.stderr().strip())

    inv = Member(env, "9bad", name="invalid-group")
    members.append(inv)
    rc = inv.proc.wait(30)
    inv.te.join(5)
    want = "group: bad name"
    if rc != 1 or want not in inv.stderr():
        raise Failed("a member of group '9bad' exited %d with %r, want 1 and %r"
                     % (rc, inv.stderr(), want))
    print("ok: invalid group name refused: %s" % inv.stderr().strip())

    # ---- the log and the counter -------------------------------------------
    log = env.log_text()[log0:]
    nolog = []
    for case, exp in EXPECT.items():
        if exp and exp[1].format(mdt=env.mdt) not in log:
            nolog.append(case)
    if "unknown MDT nosuch-MDT0000" not in log:
        nolog.append("unknown-mdt (consumer.h)")
    if nolog:
        raise Failed("loafred's log has no line for: %s\nlog:\n%s" % (nolog, log[-4000:]))
    print("ok: loafred logged each refusal")
    counted = sum(1 for e in EXPECT.values() if e and e[2])
    everything = sum(1 for e in EXPECT.values() if e) + 1
    wait_for(lambda: stats(env).get("broker.bad_frames", 0) >= bad0 + counted, 10,
             lambda: "broker.bad_frames to grow by %d from %d (is %s)"
             % (counted, bad0, stats(env).get("broker.bad_frames")))
    grew = stats(env)["broker.bad_frames"] - bad0
    if grew > everything:
        raise Failed("broker.bad_frames grew by %d for %d bad messages" % (grew, everything))
    print("ok: broker.bad_frames grew by %d (%d malformed messages)" % (grew, counted))

    # ---- everyone else was served ------------------------------------------
    if not good.alive():
        raise Failed("the good member exited %s: %s" % (good.proc.returncode, good.stderr()))
    mark = users(env)["current_index"]
    wait_for(lambda: max(good.recs()) > mark, 60,
             "the good member to receive records written after the bad input")
    wait_for(lambda: (cleared(env, GROUP) or 0) > max(mark, pos0 or 0), 60,
             lambda: "the group's position to pass %d (is %s)" % (mark, cleared(env, GROUP)))
    work.stop()
    env.quiesce(quiet=1.0)
    want = journal_indices(env)
    wait_for(lambda: set(good.recs()) | set(ba.recs()) >= set(want), 60,
             lambda: "every index to reach the group (missing %s; the raw member had "
             "held %s)" % (sorted(set(want) - set(good.recs()) - set(ba.recs()))[:20],
                           raw_recs))
    group_got = set(good.recs()) | set(ba.recs())
    back = [i for i in raw_recs if i not in group_got]
    if back:
        raise Failed("records the raw member held were not redelivered: %s" % back)
    wait_for(lambda: (cleared(env, GROUP) or 0) >= want[-1], 60,
             lambda: "the group's reader to be cleared to %d (is %s)"
             % (want[-1], cleared(env, GROUP)))
    if not good.alive() or "recv:" in good.stderr():
        raise Failed("the good member failed: %s" % good.stderr())
    st = stats(env)
    ids = [u["id"] for u in users(env)["users"]]
    if any(i.endswith("-rawnewgrp") or i.endswith("-gunknown") for i in ids):
        raise Failed("a reader was registered for a refused group: %s" % ids)
    if any(k.startswith("broker.group.rawnewgrp.") or k.startswith("broker.group.gunknown.")
           for k in st):
        raise Failed("the broker lists a refused group: %s" % sorted(st))
    wait_for(lambda: stats(env).get("broker.group.%s.members" % GROUP) == 1, 10,
             lambda: "group %s to have 1 member (stats: %s)"
             % (GROUP, stats(env).get("broker.group.%s.members" % GROUP)))
    stop_all(members)
    print("ok: the good member received all %d records (raw member's %s redelivered), the "
          "group's reader is cleared to %d; readers: %s" % (len(want), raw_recs, want[-1], ids))


if __name__ == "__main__":
    sys.exit(run_main(body, "loafre-brokerbad.", raw=True))
