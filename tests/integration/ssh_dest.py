#!/usr/bin/env python3
# ssh_dest.py — the ssh destination type (lib/repl_ssh.c) against a real
# OpenSSH server on 127.0.0.1: a private sshd (generated host and client
# ed25519 keys, its own sshd_config and known_hosts) on a free port.
# tests/integration/repl_ssh_driver.c performs the operations; the
# destination (on this machine) is then compared with the source by
# `loafre verify` (the local form) and `diff -r`. Also: an unreachable
# destination (closed port) fails with -EHOSTUNREACH and one line; escapes
# through a destination symlink and ".." are refused with nothing written
# outside. Exits 77 (skipped) when sshd, ssh or rsync is missing.
# Python 3 stdlib only; needs LOAFRE and REPL_SSH_DRIVER.
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

LOAFRE = os.environ.get("LOAFRE", "loafre")
DRIVER = os.environ.get("REPL_SSH_DRIVER", "repl_ssh_driver")
SSHD = "/usr/sbin/sshd"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    return free_port()


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


def make_source(src):
    os.makedirs(os.path.join(src, "d/sub"))
    os.makedirs(os.path.join(src, "deep/er"))
    os.makedirs(os.path.join(src, "rmme/b"))
    for rel, data in [("d/f", "f\n"), ("d/sub/g", "g" * 5000), ("deep/er/file", "deep\n"),
                      ("x", "xattrs\n"), ("quote's file", "q\n"), ("h1", "linked\n"),
                      ("rmme/a", "a\n"), ("rmme/b/c", "c\n"), ("gone", "gone\n"),
                      ("own", "own\n")]:
        with open(os.path.join(src, rel), "w") as f:
            f.write(data)
    os.link(os.path.join(src, "h1"), os.path.join(src, "h2"))
    with open(os.path.join(src, "sparse"), "wb") as f:
        f.truncate(8 << 20)
        f.seek(4 << 20)
        f.write(b"middle")
    os.setxattr(os.path.join(src, "x"), "user.color", b"red")
    os.setxattr(os.path.join(src, "d"), "user.dir", b"yes")
    os.symlink("d/f", os.path.join(src, "ln"))
    os.mkfifo(os.path.join(src, "fifo"))
    os.chmod(os.path.join(src, "d/sub"), 0o750)
    os.utime(os.path.join(src, "d/f"), ns=(1546300800_500000000, 1546300800_500000000))


def main():
    for prog in (SSHD, shutil.which("ssh"), shutil.which("rsync"), shutil.which("ssh-keygen")):
        if not prog or not os.path.exists(prog):
            print("skipped: sshd, ssh, ssh-keygen or rsync not installed")
            sys.exit(77)
    top = tempfile.mkdtemp(prefix="loafre-ssh.")
    sshd = None
    try:
        keys = os.path.join(top, "keys")
        ctl = os.path.join(top, "ctl")
        os.mkdir(keys, 0o700)
        os.mkdir(ctl, 0o700)
        hostkey = os.path.join(keys, "host")
        client = os.path.join(keys, "client")
        for k in (hostkey, client):
            p = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k])
            if p.returncode != 0:
                fail("ssh-keygen: " + p.stderr)
        port = free_port()
        auth = os.path.join(keys, "authorized_keys")
        shutil.copy(client + ".pub", auth)
        known = os.path.join(keys, "known_hosts")
        with open(hostkey + ".pub") as f:
            hk = f.read().split()
        with open(known, "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (port, hk[0], hk[1]))
        conf = os.path.join(keys, "sshd_config")
        with open(conf, "w") as f:
            f.write("ListenAddress 127.0.0.1\nPort %d\nHostKey %s\nAuthorizedKeysFile %s\n"
                    "PidFile %s\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "Subsystem sftp internal-sftp\n"
                    % (port, hostkey, auth, os.path.join(keys, "sshd.pid")))
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
        sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", conf], stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(top, "sshd.log"), "w"))
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if sshd.poll() is not None:
                    fail("sshd exited: " + open(os.path.join(top, "sshd.log")).read())
                time.sleep(0.05)
        common = [ctl, str(port), client, known]

        # 1. every operation, then compare with the local verify and diff -r
        src = os.path.join(top, "src")
        dst = os.path.join(top, "dst")
        os.mkdir(src)
        os.mkdir(dst)
        make_source(src)
        p = run([DRIVER, "ops", src, "root@127.0.0.1:" + dst] + common)
        if p.returncode != 0:
            fail("driver ops: %s%s" % (p.stdout, p.stderr))
        p = run([LOAFRE, "verify", src, dst, "--uid-map", "1234:4321", "--gid-map",
                 "1234:4321"])
        if p.returncode != 0:
            fail("loafre verify after the operations (exit %d):\n%s%s"
                 % (p.returncode, p.stdout, p.stderr))
        p = run(["diff", "-r", "--no-dereference", "--exclude=fifo", src, dst])
        if p.returncode != 0:
            fail("diff -r: " + p.stdout + p.stderr)
        st_s, st_d = os.stat(os.path.join(src, "sparse")), os.stat(os.path.join(dst, "sparse"))
        if st_d.st_blocks > st_s.st_blocks + 64:
            fail("sparse file not sparse: %d blocks, source %d" % (st_d.st_blocks, st_s.st_blocks))
        if os.stat(os.path.join(dst, "h1")).st_ino != os.stat(os.path.join(dst, "h2")).st_ino:
            fail("h1 and h2 are not one file at the destination")
        if [n for n in os.listdir(dst) if ".loafre." in n]:
            fail("temporary names left: %s" % os.listdir(dst))
        # the remote form of verify agrees: nothing
        maps = ["--uid-map", "1234:4321", "--gid-map", "1234:4321"]
        sshv = ["--ssh-port", str(port), "--ssh-identity", client, "--ssh-known-hosts", known]
        remote = "root@127.0.0.1:" + dst
        p = run([LOAFRE, "verify", src, remote] + maps + sshv + ["--checksum"])
        if p.returncode != 0 or p.stdout:
            fail("remote verify of an identical replica: exit %d\n%s%s"
                 % (p.returncode, p.stdout, p.stderr))
        # mutations of the replica: the local and the remote verify print
        # the same lines (and the local one does see them: the test can fail)
        D = lambda rel: os.path.join(dst, rel)  # noqa: E731
        os.chmod(D("own"), 0o600)
        os.unlink(D("d/sub/g") if os.path.exists(D("d/sub/g")) else D("e/sub/g"))
        with open(D("extra"), "w") as f:
            f.write("extra\n")
        os.makedirs(D("extradir/in"))
        os.setxattr(D("e/x2"), "user.color", b"green")
        os.setxattr(D("e/x2"), "user.more", b"1")
        os.unlink(D("ln"))
        os.symlink("elsewhere", D("ln"))
        os.utime(D("ln"), ns=(os.lstat(os.path.join(src, "ln")).st_atime_ns,
                              os.lstat(os.path.join(src, "ln")).st_mtime_ns),
                 follow_symlinks=False)
        st = os.stat(D("new/deeper/file2"))
        with open(D("new/deeper/file2"), "w") as f:
            f.write("DEEP\n")  # same size, same mtime below: content only
        os.utime(D("new/deeper/file2"), ns=(st.st_atime_ns, st.st_mtime_ns))
        shutil.copy2(D("h1"), D("h2.tmp"))  # h2: same data, no longer a link of h1
        os.rename(D("h2.tmp"), D("h2"))
        os.unlink(D("quote's file"))
        os.mkdir(D("quote's file"))
        for checksum in ([], ["--checksum"], ["--exclude-glob", "extra*", "--no-xattrs",
                                              "--exclude-glob", "e/sub"]):
            pl = run([LOAFRE, "verify", src, dst] + maps + checksum)
            pr = run([LOAFRE, "verify", src, remote] + maps + sshv + checksum)
            if pl.returncode != 1 or "mode: own 0640 != 0600\n" not in pl.stdout:
                fail("local verify of a changed replica: exit %d %r" % (pl.returncode, pl.stdout))
            if (pr.returncode, pr.stdout) != (pl.returncode, pl.stdout):
                fail("remote verify %s differs from the local one:\nlocal (%d):\n%s\n"
                     "remote (%d):\n%s%s" % (checksum, pl.returncode, pl.stdout,
                                             pr.returncode, pr.stdout, pr.stderr))
        p = run([LOAFRE, "verify", src, "bad;host:" + dst])
        if p.returncode != 2 or "invalid destination" not in p.stderr:
            fail("remote verify, bad host: exit %d %r" % (p.returncode, p.stderr))
        p = run([LOAFRE, "verify", src, "127.0.0.1:" + dst, "--ssh-port", str(closed_port()),
                 "--ssh-identity", client, "--ssh-known-hosts", known])
        if p.returncode != 2 or "Connection refused" not in p.stderr or \
                len(p.stderr.splitlines()) != 1:
            fail("remote verify, port closed: exit %d %r" % (p.returncode, p.stderr))

        # 2. escapes: a destination symlink in a parent, "..", absolute
        src2 = os.path.join(top, "src2")
        dst2 = os.path.join(top, "dst2")
        outside = os.path.join(top, "outside")
        for x in (src2, dst2, outside):
            os.mkdir(x)
        os.makedirs(os.path.join(src2, "evil/sub"))
        with open(os.path.join(src2, "evil/f"), "w") as f:
            f.write("must not leave\n")
        with open(os.path.join(outside, "f"), "w") as f:
            f.write("outside\n")
        os.symlink(outside, os.path.join(dst2, "evil"))
        for rel in ("prot/sub", "prot/gone/deeper", "prot/kept.keep"):
            os.makedirs(os.path.join(dst2, rel))
        for rel in ("prot/a", "prot/x.keep", "prot/sub/b.keep", "prot/sub/c",
                    "prot/kept.keep/inside", "prot/gone/deeper/f"):
            open(os.path.join(dst2, rel), "w").close()
        p = run([DRIVER, "escape", src2, "127.0.0.1:" + dst2] + common)
        if p.returncode != 0:
            fail("driver escape: %s%s" % (p.stdout, p.stderr))
        if sorted(os.listdir(outside)) != ["f"] or \
                open(os.path.join(outside, "f")).read() != "outside\n":
            fail("something was written outside: %s" % os.listdir(outside))
        if not os.path.islink(os.path.join(dst2, "evil")):
            fail("the destination symlink was replaced")

        # 3. unreachable: a closed port
        closed = free_port()
        t0 = time.monotonic()
        p = run([DRIVER, "unreach", src, "127.0.0.1:" + dst, ctl, str(closed), client, known])
        if p.returncode != 0:
            fail("driver unreach: %s%s" % (p.stdout, p.stderr))
        if "Connection refused" not in p.stdout:
            fail("unreachable reason: %r" % p.stdout)
        print("unreachable after %.1fs: %s" % (time.monotonic() - t0, p.stdout.strip()))
        print("ok")
    finally:
        if sshd:
            sshd.terminate()
            sshd.wait()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
