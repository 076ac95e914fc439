#!/usr/bin/env python3
# broker_failover.py — a member killed with SIGKILL while it holds unacked
# records: everything it held is redelivered to the other member, every
# index reaches the group at least once (count per index), and the
# journal's reader for the group never clears past an index that is not
# acked. Members are tests/integration/broker_member (C, consumer.h).
# Python 3 stdlib only; needs LOAFRE, LOAFRED and BROKER_MEMBER.
import collections
import json
import os
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_lib import Env, Failed, need_binaries  # noqa: E402

MEMBER = os.environ.get("BROKER_MEMBER", "")
GROUP = "g"


class Member:
    """A broker_member child; its INDEX lines collected by a thread."""

    def __init__(self, endpoint, *args):
        self.proc = subprocess.Popen([MEMBER, endpoint, GROUP] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.got = []
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line == "READY":
                self.ready.set()
            elif line.isdigit():
                with self.lock:
                    self.got.append(int(line))

    def indices(self):
        with self.lock:
            return list(self.got)


def cleared(env):
    """The group's reader's cleared index in the journal (None if absent)."""
    p = env.lf("changelog_users", "--json", env.mdt)
    for u in json.loads(p.stdout)["users"]:
        if u["id"].endswith("-" + GROUP):
            return u["index"]
    return None


def main():
    need_binaries()
    if not MEMBER or not os.access(MEMBER, os.X_OK):
        print("FAIL: BROKER_MEMBER must name the built broker_member (got %r)" % MEMBER)
        return 1
    env = Env(prefix="loafre-brokerfo.")
    endpoint = "ipc://" + os.path.join(env.run_dir, "broker.sock")
    ok = False
    members = []
    try:
        env.start()
        for i in range(300):
            with open(os.path.join(env.tree, "f%d" % i), "w") as f:
                f.write("x")
        want = [r["index"] for r in env.quiesce(quiet=1.0, at_least=300)]
        print("journaled %d records" % len(want))

        # A joins first with a small window and never acks: it holds what
        # it got. B joins and acks everything it gets.
        a = Member(endpoint, "--credit", "40", "--no-ack", "--start", "oldest")
        members.append(a)
        if not a.ready.wait(10):
            raise Failed("member A did not join: %s" % a.proc.stderr.read())
        t0 = time.monotonic()
        while len(a.indices()) < 40 and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        b = Member(endpoint, "--credit", "100")
        members.append(b)
        if not b.ready.wait(10):
            raise Failed("member B did not join: %s" % b.proc.stderr.read())
        # While A holds its records, the group's reader must not clear past
        # the lowest of them.
        held = sorted(a.indices())
        if not held:
            raise Failed("member A received nothing")
        print("A holds %d unacked records (lowest %d); B got %d so far"
              % (len(held), held[0], len(b.indices())))
        for _ in range(12):
            c = cleared(env)
            if c is not None and c >= held[0]:
                raise Failed("reader %s cleared to %d past A's unacked %d" % (GROUP, c, held[0]))
            time.sleep(0.25)
        print("ok: reader cleared %s, below A's unacked %d" % (cleared(env), held[0]))

        a.proc.kill()  # SIGKILL: no BYE
        a.proc.wait()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            seen = set(a.indices()) | set(b.indices())
            if set(b.indices()) >= set(held) and seen >= set(want):
                break
            time.sleep(0.2)
        counts = collections.Counter(a.indices() + b.indices())
        missing = [i for i in want if counts[i] < 1]
        not_redelivered = sorted(set(held) - set(b.indices()))
        if missing or not_redelivered:
            raise Failed("after A's SIGKILL: %d indices never reached the group %s; "
                         "%d of A's unacked records not redelivered to B %s\nlog:\n%s"
                         % (len(missing), missing[:20], len(not_redelivered),
                            not_redelivered[:20], env.log_text()[-3000:]))
        dups = sum(1 for i in want if counts[i] > 1)
        print("ok: every index reached the group (%d delivered twice: A's redelivered)" % dups)

        # B acked everything: the reader eventually clears to the end.
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15 and (cleared(env) or 0) < want[-1]:
            time.sleep(0.25)
        if (cleared(env) or 0) < want[-1]:
            raise Failed("reader %s cleared only to %s after every record was acked (last %d)"
                         % (GROUP, cleared(env), want[-1]))
        print("ok: reader %s cleared to %d once everything was acked" % (GROUP, want[-1]))
        ok = True
    except Failed as e:
        print("FAIL: %s" % e)
    except Exception:
        traceback.print_exc()
        print("FAIL: unexpected exception")
    finally:
        for m in members:
            if m.proc.poll() is None:
                m.proc.terminate()
                try:
                    m.proc.wait(10)
                except subprocess.TimeoutExpired:
                    m.proc.kill()
        try:
            env.stop()
        except Exception:
            pass
        env.cleanup(keep=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
