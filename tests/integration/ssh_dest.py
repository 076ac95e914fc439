#!/usr/bin/env python3
# ssh_dest.py — the ssh destination type (lib/repl_ssh.c) against a real
# OpenSSH server on 127.0.0.1: a private sshd (generated host and client
# ed25519 keys, its own sshd_config and known_hosts) on a free port.
# tests/integration/repl_ssh_driver.c performs the operations; the
# destination (on this machine) is then compared with the source by
# `loafre verify` (the local form) and `diff -r`. Also: an unreachable
# destination (closed port) fails with -EHOSTUNREACH and one line; escapes
# through a destination symlink and ".." are refused with nothing written
# outside; batched copies keep their order with renames, rmdir and lstat of
# the same paths, a vanished source is no error, a failure is reported by
# the flush; a channel whose remote shell was killed is started again.
# Exits 77 (skipped) when sshd, ssh or rsync is missing.
# The sshd (keys, config, start/stop) is repl_lib.Sshd, shared with the
# replication tests.
# Python 3 stdlib only; needs LOAFRE and REPL_SSH_DRIVER.
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proc_lib import free_port  # noqa: E402
from repl_lib import Failed, Sshd, descendants  # noqa: E402

LOAFRE = os.environ.get("LOAFRE", "loafre")
DRIVER = os.environ.get("REPL_SSH_DRIVER", "repl_ssh_driver")
SSHD = "/usr/sbin/sshd"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


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
        ctl = os.path.join(top, "ctl")
        os.mkdir(ctl, 0o700)
        try:
            sshd = Sshd(top)  # repl_lib: keys, sshd_config, known_hosts
            sshd.start()
        except Failed as e:
            fail(str(e))
        port, client, known = sshd.port, sshd.client, sshd.known
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
        # a control directory too long for ssh's socket path (DIR/ssh-%C
        # plus ssh's 17-byte temporary suffix > 107 bytes) still works: a
        # private short directory in /tmp is used, and removed at close
        longctl = os.path.join(top, "ctl-" + "x" * max(1, 60 - len(top)))
        os.mkdir(longctl, 0o700)
        src_l = os.path.join(top, "src-longctl")
        dst_l = os.path.join(top, "dst-longctl")
        os.mkdir(src_l)
        os.mkdir(dst_l)
        make_source(src_l)
        drv = subprocess.Popen([DRIVER, "ops", src_l, "root@127.0.0.1:" + dst_l, longctl,
                                str(port), client, known], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        out, err = drv.communicate(timeout=300)
        p = subprocess.CompletedProcess(drv.args, drv.returncode, out, err)
        if p.returncode != 0:
            fail("driver ops with a %d-byte control directory: %s%s"
                 % (len(longctl), p.stdout, p.stderr))
        p = run([LOAFRE, "verify", src_l, dst_l, "--uid-map", "1234:4321", "--gid-map",
                 "1234:4321"])
        if p.returncode != 0:
            fail("verify after the long control directory run:\n%s%s" % (p.stdout, p.stderr))
        left = [n for n in os.listdir("/tmp") if n.startswith("loafre-ssh.%d." % drv.pid)]
        if left:
            fail("short control directories left in /tmp: %s" % sorted(left))
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

        # 4. batched copies: order kept around renames, rmdir and lstat of
        # queued paths; a vanished source; a failure reported by the flush
        src3 = os.path.join(top, "src3")
        dst3 = os.path.join(top, "dst3")
        outside3 = os.path.join(top, "outside3")
        for x in (src3, dst3, outside3):
            os.mkdir(x)
        for rel in ("b", "c", "bad"):
            os.mkdir(os.path.join(src3, rel))
        for rel in ("b/1", "b/2", "b/3", "b/4", "b/5", "b/6", "c/x", "bad/f"):
            with open(os.path.join(src3, rel), "w") as f:
                f.write(rel + "\n")
        os.symlink(outside3, os.path.join(dst3, "bad"))
        p = run([DRIVER, "batch", src3, "127.0.0.1:" + dst3] + common)
        if p.returncode != 0:
            fail("driver batch: %s%s" % (p.stdout, p.stderr))
        if os.listdir(outside3):
            fail("batch: something was written outside: %s" % os.listdir(outside3))
        p = run(["diff", "-r", "--no-dereference", "--exclude=bad", src3, dst3])
        if p.returncode != 0:
            fail("batch: diff -r: " + p.stdout + p.stderr)
        # a directory kept at the destination only for excluded (protected)
        # entries is not extra when verify is given the exclude (local and
        # remote form); without it, it is
        os.makedirs(os.path.join(dst3, "gone/cache"))
        with open(os.path.join(dst3, "gone/cache/dc"), "w") as f:
            f.write("protected\n")
        st3 = os.stat(src3)
        os.utime(dst3, ns=(st3.st_atime_ns, st3.st_mtime_ns))
        excl = ["--exclude-glob", "bad", "--exclude-glob", "gone/cache", "--no-times"]
        for target in (dst3, "root@127.0.0.1:" + dst3):
            extra = sshv if ":" in target else []
            p = run([LOAFRE, "verify", src3, target] + excl + extra)
            if p.returncode != 0 or p.stdout:
                fail("verify %s with the exclude: exit %d %r %r"
                     % (target, p.returncode, p.stdout, p.stderr))
            p = run([LOAFRE, "verify", src3, target, "--exclude-glob", "bad", "--no-times"]
                    + extra)
            if p.returncode != 1 or "extra: gone\n" not in p.stdout:
                fail("verify %s without the exclude: exit %d %r %r"
                     % (target, p.returncode, p.stdout, p.stderr))

        # 6. initial sync with delete onto a destination holding other
        # entries: one listing (with stat) per directory, batched copies
        src5 = os.path.join(top, "src5")
        dst5 = os.path.join(top, "dst5")
        for rel in ("src5/a/b", "src5/e", "dst5/a", "dst5/x/deep", "dst5/e"):
            os.makedirs(os.path.join(top, rel))
        for rel, data in [("src5/a/1", "1\n"), ("src5/a/2", "two\n"), ("src5/a/b/3", "3\n"),
                          ("src5/top", "top\n"), ("dst5/a/2", "old\n"),
                          ("dst5/a/extra", "x\n"), ("dst5/x/deep/f", "f\n"),
                          ("dst5/top", "top\n")]:
            with open(os.path.join(top, rel), "w") as f:
                f.write(data)
        os.symlink("a/1", os.path.join(src5, "ln"))
        os.symlink("elsewhere", os.path.join(dst5, "ln"))
        os.link(os.path.join(src5, "a/1"), os.path.join(src5, "e/1link"))
        p = run([DRIVER, "sync", src5, "127.0.0.1:" + dst5] + common)
        if p.returncode != 0:
            fail("driver sync: %s%s" % (p.stdout, p.stderr))
        p = run([LOAFRE, "verify", src5, dst5, "--checksum"])
        if p.returncode != 0:
            fail("sync: loafre verify: exit %d %s%s" % (p.returncode, p.stdout, p.stderr))

        # 5. a dead channel (its remote shell killed) is started again
        src4 = os.path.join(top, "src4")
        dst4 = os.path.join(top, "dst4")
        for x in (src4, dst4):
            os.mkdir(x)
        for rel in ("r1", "r2"):
            os.mkdir(os.path.join(src4, rel))
        with open(os.path.join(src4, "rf"), "w") as f:
            f.write("rf\n")
        drv = subprocess.Popen([DRIVER, "restart", src4, "127.0.0.1:" + dst4] + common,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            if drv.stdout.readline() != "ready\n":
                fail("driver restart did not get ready: " + drv.stderr.read())
            shells = []
            for pid, _comm in descendants(sshd.proc.pid):
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        if b"loafre-channel" in f.read():
                            shells.append(pid)
                except OSError:
                    pass
            if not shells:
                fail("no remote channel shell (sh -s loafre-channel) under sshd")
            for pid in shells:
                os.kill(pid, signal.SIGKILL)
            out, err = drv.communicate("go\n", timeout=120)
        finally:
            if drv.poll() is None:
                drv.kill()
                drv.wait()
        if drv.returncode != 0:
            fail("driver restart after killing %s: %s%s" % (shells, out, err))
        p = run(["diff", "-r", src4, dst4])
        if p.returncode != 0:
            fail("restart: diff -r: " + p.stdout + p.stderr)

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
            sshd.stop()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
