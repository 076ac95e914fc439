#!/usr/bin/env python3
# broker_restart.py — loafred (and so its broker) killed with SIGKILL while
# records stream to a group of two members, then restarted on the same
# configuration; the members reconnect (broker_member --reconnect).
#
#   - B (acks after 1 ms per record) creates the group on the empty journal;
#     a workload keeps producing records the whole time (also while
#     loafred is down: the restart's catch-up rescan journals those);
#   - A joins later and holds the first 40 records it gets, unacked;
#   - kill -9 loafred mid-stream, start it again, both members reconnect.
#
# Checks (members print each record received, "ACKED I" after each ack and
# "HELD I" for the records A holds; a thread samples the group's reader's
# cleared index with `loafre changelog_users` every 100 ms throughout):
#   1. before the kill, the cleared index stays below A's lowest held
#      record although B acks records above it; B never got A's records;
#   2. after the restart, every index above the persisted cleared index
#      (read from the journal right after the kill) is delivered again, so
#      in particular A's held records (redelivered to A or B);
#   3. every journal index reached the group at least once (count per
#      index over both members and all sessions; `loafre changelog` of the
#      journal, kept whole by a reader that never clears);
#   4. no sample of the cleared index ever passed an index that no member
#      acked, and the cleared index never went backwards;
#   5. once everything is acked the cleared index reaches the journal's end.
#
# How it fails: a broker that cleared up to the highest ack (or past
# in-flight records) breaks 1 or 4; one that resumed after a restart from
# what it had read instead of from the persisted position, or lost its
# in-flight records, breaks 2 and 3 (A's held records were never acked, so
# only a redelivery brings them to the group in session 2); one that never
# cleared after the restart breaks 5.
# Python 3 stdlib only; needs LOAFRE, LOAFRED and BROKER_MEMBER.
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_lib import (Failed, Member, Sampler, Workload, cleared, journal_indices,  # noqa: E402
                        kill9, register_keeper, run_main, stop_all, users, wait_for)

GROUP = "g"
HOLD = 40


def body(env, members):
    env.start()
    register_keeper(env)
    b = Member(env, GROUP, "--credit", "200", "--delay-ms", "1", "--print-acks",
               "--reconnect", "--start", "oldest", name="B")
    members.append(b)
    b.wait_ready()
    sampler = Sampler(env, GROUP, 0.1)
    sampler.start()
    work = Workload(env, "w", rate=200)
    work.start()
    wait_for(lambda: len(b.recs()) >= 200, 60, "B to receive 200 records")

    a = Member(env, GROUP, "--credit", str(HOLD), "--hold", str(HOLD), "--delay-ms", "2",
               "--print-acks", "--reconnect", name="A")
    members.append(a)
    a.wait_ready()
    wait_for(lambda: len(a.of_kind("held")) >= HOLD, 60,
             lambda: "A to hold %d records (has %d)" % (HOLD, len(a.of_kind("held"))))
    held = sorted(a.of_kind("held", 1))
    # Mid-stream: B keeps receiving while A holds its records.
    n = len(b.recs())
    wait_for(lambda: len(b.recs()) >= n + 100, 60, "B to receive 100 more records")
    if not work.is_alive():
        raise Failed("the workload ended before the kill")
    before_kill = users(env)["current_index"]
    t_kill = time.monotonic()
    kill9(env)
    persisted = cleared(env, GROUP)
    print("killed loafred at journal index ~%d; A holds %d records (%d..%d); "
          "the group's persisted position is %s" % (before_kill, len(held), held[0], held[-1],
                                                    persisted))
    if persisted is None or persisted >= held[0]:
        raise Failed("the group's reader was cleared to %s, past A's unacked record %d"
                     % (persisted, held[0]))
    # Files keep changing while loafred is down (its restart rescans them).
    done = work.done
    wait_for(lambda: work.done >= done + 100, 60, "the workload to go on while loafred is down")
    env.start()
    wait_for(lambda: a.session >= 2 and b.session >= 2, 60,
             lambda: "both members to reconnect (A session %d, B session %d)\nA: %s\nB: %s"
             % (a.session, b.session, a.stderr()[-500:], b.stderr()[-500:]))
    print("both members reconnected")
    # Records produced after the restart also get through.
    mark = users(env)["current_index"]
    wait_for(lambda: any(i > mark for i in a.recs() + b.recs()), 60,
             "a record written after the restart to reach the group")
    work.stop()
    env.quiesce(quiet=1.0)
    want = journal_indices(env)
    if not want or want != list(range(want[0], want[-1] + 1)):
        raise Failed("journal indices are not contiguous: %s..." % want[:20])
    print("journaled %d records (%d..%d)" % (len(want), want[0], want[-1]))

    def covered():
        got = set(a.recs()) | set(b.recs())
        return all(i in got for i in want)

    def missing():
        got = set(a.recs()) | set(b.recs())
        m = [i for i in want if i not in got]
        return "every index to reach the group: %d missing %s" % (len(m), m[:20])

    wait_for(covered, 120, missing)
    last = want[-1]
    wait_for(lambda: (cleared(env, GROUP) or 0) >= last, 60,
             lambda: "the group's reader to be cleared to %d (is %s)"
             % (last, cleared(env, GROUP)))
    sampler.stop()
    stop_all(members)
    if sampler.errors:
        print("note: %d samples failed (e.g. %s)" % (len(sampler.errors), sampler.errors[0]))

    # 1. before the kill
    pre = [s for s in sampler.samples if s[0] < t_kill]
    if len(pre) < 3:
        raise Failed("only %d samples of the cleared index before the kill" % len(pre))
    bad = [s for s in pre if s[1] >= held[0]]
    if bad:
        raise Failed("before the kill the reader was cleared to %d, past A's unacked %d"
                     % (bad[0][1], held[0]))
    stolen = sorted(set(held) & set(b.recs(1)))
    if stolen:
        raise Failed("B received records A held while A was alive: %s" % stolen[:20])
    print("ok: before the kill the cleared index stayed below %d (max %d); B acked up to %d"
          % (held[0], max(s[1] for s in pre), max(b.of_kind("acked", 1))))

    # 2. redelivery after the restart
    after = set(i for m in (a, b) for e in m.rec_events() if e[5] >= 2 for i in [e[1]])
    lost = [i for i in want if i > persisted and i not in after]
    if lost:
        raise Failed("%d indices above the persisted position %d were not delivered after "
                     "the restart: %s" % (len(lost), persisted, lost[:20]))
    print("ok: after the restart everything above %d was delivered again (A's %d held "
          "records among them)" % (persisted, len(held)))

    # 3. at least once
    counts = collections.Counter(a.recs() + b.recs())
    zero = [i for i in want if counts[i] < 1]
    if zero:
        raise Failed("%d indices never reached the group: %s" % (len(zero), zero[:20]))
    twice = sum(1 for i in want if counts[i] > 1)
    print("ok: every one of %d indices reached the group (%d more than once)"
          % (len(want), twice))

    # 4. clears only over acked records, never backwards
    acked = set(a.of_kind("acked")) | set(b.of_kind("acked"))
    wset = set(want)
    prev = 0
    for t, c, _cur in sampler.samples:
        if c < prev:
            raise Failed("the cleared index went back from %d to %d" % (prev, c))
        prev = c
    top = max(s[1] for s in sampler.samples)
    unacked = [i for i in range(1, top + 1) if i in wset and i not in acked]
    if unacked:
        raise Failed("the reader was cleared to %d but these indices were never acked: %s"
                     % (top, unacked[:20]))
    print("ok: %d samples of the cleared index, never past an unacked index, never back"
          % len(sampler.samples))
    print("ok: the reader was cleared to the journal's end (%d)" % last)


if __name__ == "__main__":
    sys.exit(run_main(body, "loafre-brokerrs."))
