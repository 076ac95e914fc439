#!/usr/bin/env python3
# broker_curve.py — CurveZMQ on the broker's tcp:// endpoint, end to end
# with real processes (docs/design/broker.md, "Security"):
# loafred serves an ipc:// and a tcp://127.0.0.1:PORT endpoint (a free
# port), with keys made by `loafre keygen`;
#  - a client whose key is allowed receives every record over tcp://
#    (`loafre tail --broker tcp://... --server-key ... --key ...`);
#  - a client whose key is not in the allowed list is refused with a clear
#    error and a non-zero exit, and loafred logs the refusal;
#  - a client without keys, and one with a wrong server key, are refused
#    too (they fail; they do not hang);
#  - after the refusals the broker still serves the allowed client, also
#    through a [client] section of its own configuration file;
#  - the ipc:// endpoint still works without keys.
# Python 3 stdlib only; needs LOAFRE and LOAFRED.
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proc_lib import free_port  # noqa: E402
from source_lib import LOAFRE, Failed, need_binaries, run_env_test  # noqa: E402

TAIL_TIMEOUT = 120  # a refused client must fail well before this


def run(conf, args, timeout=TAIL_TIMEOUT):
    try:
        return subprocess.run([LOAFRE, "-c", conf] + list(args), capture_output=True,
                              text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failed("'loafre %s' did not finish within %d s" % (" ".join(args), timeout))


def tail_ok(env, conf, *args):
    p = run(conf, ["tail", "--json"] + list(args))
    if p.returncode != 0:
        raise Failed("'loafre tail %s' exited %d: %s\nlog:\n%s" % (
            " ".join(args), p.returncode, p.stderr.strip(), env.log_text()[-3000:]))
    return [json.loads(l)["index"] for l in p.stdout.splitlines() if l.strip()]


def tail_refused(env, conf, what, needle, *args):
    p = run(conf, ["tail", "--json"] + list(args))
    if p.returncode == 0:
        raise Failed("%s: 'loafre tail %s' succeeded (%d lines), want a refusal" % (
            what, " ".join(args), len(p.stdout.splitlines())))
    if p.stdout.strip():
        raise Failed("%s: refused client printed records: %s" % (what, p.stdout[:500]))
    err = p.stderr.strip()
    if needle not in err or "\n" in err:
        raise Failed("%s: want one line with '%s' on stderr, got: %r" % (what, needle, err))
    print("ok: %s refused (exit %d): %s" % (what, p.returncode, err))


def keygen(env, name):
    path = os.path.join(env.base, "keys", name)
    p = run(env.conf, ["keygen", path])
    m = re.search(r"^public key: (\S{40})$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise Failed("'loafre keygen %s' exited %d: %s%s" % (path, p.returncode, p.stdout,
                                                             p.stderr))
    mode = os.stat(path + ".key").st_mode & 0o777
    if mode != 0o600:
        raise Failed("%s.key has mode %o, want 600" % (path, mode))
    return path, m.group(1)


def make_ops(env, n, tag):
    d = os.path.join(env.tree, tag)
    os.mkdir(d)
    for i in range(n):
        p = os.path.join(d, "f%d" % i)
        with open(p, "w") as f:
            f.write("x")
        if i % 2:
            os.unlink(p)


def check_exact(name, got, want):
    if got != want:
        raise Failed("%s: %d records %s..., want %d %s..." % (name, len(got), got[:10], len(want),
                                                             want[:10]))


def body(env):
    os.mkdir(os.path.join(env.base, "keys"))
    broker, _ = keygen(env, "broker")
    alice, alice_pub = keygen(env, "alice")
    mallory, mallory_pub = keygen(env, "mallory")
    allowed = os.path.join(env.base, "keys", "clients.allowed")
    with open(allowed, "w") as f:
        f.write("# clients allowed on tcp://\n%s alice\n" % alice_pub)
    os.chmod(allowed, 0o644)
    port = free_port()
    tcp = "tcp://127.0.0.1:%d" % port
    ipc = "ipc://%s/broker.sock" % env.run_dir
    with open(env.conf, "a") as f:
        f.write("\n[broker]\nendpoint = %s %s\ncurve_secret_key = %s.key\n"
                "curve_allowed_keys = %s\n" % (ipc, tcp, broker, allowed))
    # A client node's configuration: only [client], relative paths.
    client_conf = os.path.join(env.base, "client.conf")
    with open(client_conf, "w") as f:
        f.write("[client]\nbroker = %s\ncurve_server_key = keys/broker.pub\n"
                "curve_key = keys/alice.key\n" % tcp)
    env.start()
    print("loafred serves %s and %s" % (ipc, tcp))

    # Groups exist before the records (created over ipc://, no keys).
    for g in ("gt", "gi"):
        got = tail_ok(env, env.conf, "--group", g, "--start", "oldest")
        if got:
            raise Failed("%s got %d records from an empty journal" % (g, len(got)))
    make_ops(env, 40, "a")
    want = [r["index"] for r in env.quiesce(quiet=1.0, at_least=40)]
    if len(want) < 40:
        raise Failed("only %d records journaled for 40 creations" % len(want))

    keys_alice = ["--broker", tcp, "--server-key", broker + ".pub", "--key", alice + ".key"]
    # Refused: a key not in the allowed list, no keys, a wrong server key.
    tail_refused(env, env.conf, "a client key not allowed", "broker refused this client's key",
                 "--group", "gt", "--broker", tcp, "--server-key", broker + ".pub",
                 "--key", mallory + ".key")
    tail_refused(env, env.conf, "a client without keys", "CurveZMQ",
                 "--group", "gt", "--broker", tcp)
    tail_refused(env, env.conf, "a wrong server key", "server key",
                 "--group", "gt", "--broker", tcp, "--server-key", alice + ".pub",
                 "--key", alice + ".key")
    # Bad key files are reported before connecting.
    os.chmod(alice + ".key", 0o644)
    tail_refused(env, env.conf, "a group-readable client key", "chmod 600", *keys_alice)
    os.chmod(alice + ".key", 0o600)
    tail_refused(env, env.conf, "a .pub as the client key", "no secret-key",
                 "--broker", tcp, "--server-key", broker + ".pub", "--key", alice + ".pub")

    # The broker logged the refusal of mallory's key.
    needle = "client key %s... from 127.0.0.1 not allowed" % mallory_pub[:8]
    if needle not in env.log_text():
        raise Failed("loafred's log lacks '%s':\n%s" % (needle, env.log_text()[-3000:]))
    print("ok: loafred logged '%s'" % needle)

    # The allowed client gets every record over tcp://, after the refusals.
    check_exact("gt over tcp (allowed key)", tail_ok(env, env.conf, "--group", "gt",
                                                      *keys_alice), want)
    print("ok: the allowed client received %d records over %s" % (len(want), tcp))
    # ipc:// needs no keys.
    check_exact("gi over ipc", tail_ok(env, env.conf, "--group", "gi"), want)
    print("ok: ipc:// still serves a client without keys")

    # More records; the allowed client through its [client] section.
    make_ops(env, 10, "b")
    later = [r["index"] for r in env.quiesce(quiet=1.0, at_least=10)]
    check_exact("gt over tcp ([client] section)", tail_ok(env, client_conf, "--group", "gt"),
                later)
    print("ok: [client] broker/curve_server_key/curve_key work (%d records)" % len(later))
    # Keys are for tcp:// only.
    p = run(env.conf, ["tail", "--broker", ipc, "--key", alice + ".key",
                       "--server-key", broker + ".pub"])
    if p.returncode != 2 or "tcp://" not in p.stderr:
        raise Failed("keys with an ipc:// endpoint: exit %d, %r (want a usage error)"
                     % (p.returncode, p.stderr))
    if env.proc.poll() is not None:
        raise Failed("loafred exited (%s)" % env.proc.returncode)


def main():
    need_binaries()
    return run_env_test(body, prefix="loafre-curve.")


if __name__ == "__main__":
    sys.exit(main())
