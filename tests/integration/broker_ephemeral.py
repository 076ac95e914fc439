#!/usr/bin/env python3
# broker_ephemeral.py — a slow ephemeral reader does not slow a group, and
# gets gap notices that account for every record it missed.
#
# Configuration: [broker] ephemeral_window = 200. A group member (acks each
# record at once) joins first; when the journal is quiet at index L0 an
# ephemeral reader joins (broker_member --ephemeral, credit 10, 3 ms per
# record: ~300 records/s); then 20000 file operations as fast as python
# goes (tens of thousands of records).
#
# Checks:
#   - the group receives every record (polled with a deadline), exactly
#     once and in order, while the reader still lags (reported);
#   - the reader printed at least one "GAP N" with N > 0;
#   - its stream accounts for every record emitted after it joined, in
#     order: starting at L0+1, each record line is exactly the next index
#     expected and each GAP N skips exactly N indices; once the journal is
#     quiet it ends caught up at the journal's last index, so
#     received + sum(GAP) == records emitted after it joined.
#
# How it fails: a broker that let the reader's window hold the group back
# (or buffered without bound) misses the deadline or never sends GAP; one
# whose GAP count is off by one, or that skipped records without a GAP,
# or sent a record twice, breaks the exact sequence; one that dropped
# records of the group breaks the group check.
# Python 3 stdlib only; needs LOAFRE, LOAFRED and BROKER_MEMBER.
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_lib import (Failed, Member, Workload, journal_indices, register_keeper,  # noqa: E402
                        run_main, stats, stop_all, users, wait_for)

GROUP = "g"
WINDOW = 200
OPS = 20000


def account(events, first):
    """Walks the reader's events from index `first`: returns (next index
    expected, records, lost, error or None)."""
    e = first
    got = lost = 0
    for ev in events:
        if ev[0] == "rec":
            if ev[1] != e:
                return e, got, lost, "record %d where %d was expected" % (ev[1], e)
            e += 1
            got += 1
        elif ev[0] == "gap":
            if ev[1] <= 0:
                return e, got, lost, "GAP %d" % ev[1]
            e += ev[1]
            lost += ev[1]
    return e, got, lost, None


def body(env, members):
    env.start()
    register_keeper(env)
    g = Member(env, GROUP, "--credit", "1024", "--start", "oldest", name="group")
    members.append(g)
    g.wait_ready()
    env.quiesce(quiet=1.0)
    l0 = users(env)["current_index"]
    mdt_last = "broker.mdt.%s.last" % env.mdt
    if mdt_last in stats(env):  # the broker's own view of the journal's end
        wait_for(lambda: stats(env).get(mdt_last) == l0, 10,
                 "the broker to see the journal's end %d" % l0)
    e = Member(env, None, "--ephemeral", "--credit", "10", "--delay-ms", "3", name="eph")
    members.append(e)
    e.wait_ready()
    t0 = time.monotonic()
    work = Workload(env, "w", ops=OPS, seed=7)
    work.start()
    work.join()
    work.stop()
    cur = users(env)["current_index"]
    print("when the workload ended: journal at %d, the group had received %d records, the "
          "ephemeral reader was at index %d" % (cur, len(g.recs()),
                                               account(e.snapshot(), l0 + 1)[0] - 1))
    env.quiesce(quiet=1.0)
    want = journal_indices(env)
    last = want[-1]
    if want != list(range(1, last + 1)):
        raise Failed("journal indices are not contiguous")
    print("%d operations: records %d..%d journaled in %.1f s; the reader joined after %d"
          % (OPS, want[0], last, time.monotonic() - t0, l0))

    wait_for(lambda: len(g.recs()) >= len(want), 240,
             lambda: "the group to receive %d records (has %d)" % (len(want), len(g.recs())))
    t_group = time.monotonic() - t0
    eph_at, got_at, lost_at, _ = account(e.snapshot(), l0 + 1)
    print("the group had all %d records after %.1f s; the ephemeral reader was then at "
          "index %d of %d (%d received, %d lost)" % (len(want), t_group, eph_at - 1, last,
                                                    got_at, lost_at))
    if g.recs() != want:
        raise Failed("the group's records are not exactly the journal's, in order "
                     "(%d received)" % len(g.recs()))
    print("ok: the group received every record exactly once, in order")

    def caught_up():
        nxt, _g, _l, err = account(e.snapshot(), l0 + 1)
        return err is not None or nxt > last

    wait_for(caught_up, 120,
             lambda: "the ephemeral reader to reach %d (at %d)"
             % (last, account(e.snapshot(), l0 + 1)[0] - 1))
    stop_all(members)
    nxt, got, lost, err = account(e.snapshot(), l0 + 1)
    gaps = [ev[1] for ev in e.snapshot() if ev[0] == "gap"]
    if err:
        raise Failed("the ephemeral reader's stream does not account for the records after "
                     "%d: %s (gaps so far %s)" % (l0, err, gaps[:20]))
    if not gaps:
        raise Failed("the ephemeral reader lagged %d records behind a window of %d but got no "
                     "GAP" % (last - l0 - got, WINDOW))
    if nxt != last + 1 or got + lost != last - l0:
        raise Failed("the ephemeral reader ended at %d (received %d + lost %d), want %d "
                     "(%d records after %d)" % (nxt - 1, got, lost, last, last - l0, l0))
    print("ok: ephemeral reader: %d received + %d lost in %d GAPs = %d records emitted "
          "after it joined; it ended at %d" % (got, lost, len(gaps), last - l0, last))


if __name__ == "__main__":
    sys.exit(run_main(body, "loafre-brokereph.",
                      conf_extra="ephemeral_window = %d\n" % WINDOW))
