#!/usr/bin/env python3
# broker_keepalive.py — a member busy with long operations (each record
# takes longer than 3 heartbeat intervals) stays a member when it calls
# loafre_consumer_keepalive() while it works: nothing is redelivered and
# every ack is taken. The same member without keepalive is declared dead
# by the broker (its records redelivered, its acks refused): the control
# that shows the first half measures something.
# Python 3 stdlib only; needs LOAFRE, LOAFRED and BROKER_MEMBER.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_lib import Member, run_main, stats, wait_for  # noqa: E402
from source_lib import Failed  # noqa: E402

HB_MS = 100      # heartbeat interval of both members
DELAY_MS = 600   # per record: 6 heartbeat intervals, twice the broker's limit
N = 4            # records to get through


def body(env, members):
    env.start()
    for i in range(N):
        with open(os.path.join(env.tree, "f%d" % i), "w") as f:
            f.write("x")
    env.quiesce(quiet=0.5, at_least=N)

    busy = Member(env, "ka", "--start", "oldest", "--heartbeat-ms", HB_MS,
                  "--delay-ms", DELAY_MS, "--keepalive", "--print-acks", "--credit", 1,
                  name="keepalive")
    members.append(busy)
    busy.wait_ready()
    wait_for(lambda: len([e for e in busy.snapshot() if e[0] == "acked"]) >= N, 60,
             lambda: "%d acks of the keepalive member (stderr: %s)"
             % (len([e for e in busy.snapshot() if e[0] == "acked"]), busy.stderr()))
    st = stats(env)
    red = st.get("broker.group.ka.redelivered", 0)
    if red:
        raise Failed("keepalive member: %s records redelivered (declared dead while busy)" % red)
    if "ack" in busy.stderr():
        raise Failed("keepalive member: acks refused: %s" % busy.stderr())
    print("keepalive member: %d records in %d ms each, none redelivered" % (N, DELAY_MS))

    lazy = Member(env, "kb", "--start", "oldest", "--heartbeat-ms", HB_MS,
                  "--delay-ms", DELAY_MS, "--print-acks", "--credit", 1, name="silent")
    members.append(lazy)
    lazy.wait_ready()
    wait_for(lambda: stats(env).get("broker.group.kb.redelivered", 0) > 0
             or "ack" in lazy.stderr(), 60,
             "the silent member to be declared dead (control)")
    print("control: the member without keepalive was declared dead")


if __name__ == "__main__":
    sys.exit(run_main(body, "broker-keepalive"))
