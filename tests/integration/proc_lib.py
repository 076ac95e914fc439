# proc_lib.py — small helpers shared by the integration test libraries
# (broker_lib.py, repl_lib.py; imported, not run): polling with a deadline
# and a free TCP port on 127.0.0.1. Python 3 stdlib only.
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_lib import Failed  # noqa: E402


def wait_for(pred, timeout, what, interval=0.05):
    """Polls pred() every `interval` s until it returns a true value
    (returned) or `timeout` s pass (Failed naming `what`, which may be a
    callable for details)."""
    t0 = time.monotonic()
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() - t0 > timeout:
            raise Failed("timed out after %.0f s waiting for %s"
                         % (timeout, what() if callable(what) else what))
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on (at the time of the call)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
