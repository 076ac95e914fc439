#!/usr/bin/env python3
# broker_modules.py — groups declared in the configuration with processing
# modules, end to end through loafred:
#   types:  `types = CREAT MKDIR` receives exactly the journal's CREAT and
#           MKDIR records;
#   sub:    `subtree = TREE/a` receives exactly the records that name an
#           object of a/ (target, parent, or rename source/parent) and none
#           of b/'s;
#   cc:     `cancel` + `collapse` with a hold window: a file created and
#           removed inside the window leaves no record; nothing outside the
#           journal is delivered; every delivered record's FID history is
#           kept in order;
#   fields: `fields = none` strips the uid/gid extension;
# and for every group the position reaches the journal's last index once
# the delivered records are acked (the ack-coverage rule: dropped records
# never hold a group back). A declared group exists from loafred's start:
# records written before any member joined are kept for it.
# Python 3 stdlib only; needs LOAFRE and LOAFRED.
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_lib import LOAFRE, Failed, need_binaries, run_env_test  # noqa: E402


def tail(env, group, timeout=120):
    p = subprocess.run([LOAFRE, "-c", env.conf, "tail", "--json", "--group", group],
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise Failed("'loafre tail --group %s' exited %d: %s\nlog:\n%s" % (
            group, p.returncode, p.stderr.strip(), env.log_text()[-3000:]))
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def groups_json(env):
    return {g["group"]: g for g in json.loads(env.lf("groups", "--json").stdout)}


def wait_positions(env, names, last, timeout=15):
    t0 = time.monotonic()
    gs = {}
    while time.monotonic() - t0 < timeout:
        gs = groups_json(env)
        if all(any(m.get("position") == last for m in gs.get(n, {}).get("mdts", []))
               for n in names):
            return gs
        time.sleep(0.2)
    raise Failed("positions never reached %d: %s" % (
        last, {n: gs.get(n, {}).get("mdts") for n in names}))


ZERO = "[0:0x0:0x0]"


def fids_of(r):
    return [r.get(k) for k in ("tfid", "pfid", "sfid", "spfid") if r.get(k, ZERO) != ZERO]


def body(env):
    a = os.path.join(env.tree, "a")
    b = os.path.join(env.tree, "b")
    os.mkdir(a)
    os.mkdir(b)
    with open(env.conf, "a") as f:
        f.write("\n[group types]\nmodule = types = CREAT MKDIR\n"
                "\n[group sub]\nmodule = subtree = %s\n"
                "\n[group cc]\nbatch_ms = 1000\nmodule = cancel\nmodule = collapse\n"
                "\n[group fields]\nmodule = fields = none\n" % a)
    env.start()
    a_fid = env.path2fid(a)
    # Records written before any member joins: declared groups keep them.
    for d, tag in ((a, "x"), (b, "y")):
        os.mkdir(os.path.join(d, "sub" + tag))
        for i in range(20):
            p = os.path.join(d, "sub" + tag, "f%d" % i)
            with open(p, "w") as f:
                f.write("data")
            os.chmod(p, 0o600)
    env.quiesce(quiet=1.5, at_least=40)
    os.rename(os.path.join(b, "suby", "f0"), os.path.join(a, "moved"))
    # create and remove inside cc's 1 s window (it opens
    # at the rename: the quiet period before is longer than the window), in separate
    # journal commits (the source itself cancels within one flush)
    for i in range(5):
        p = os.path.join(b, "tmp%d" % i)
        open(p, "w").close()
        time.sleep(0.05)
        os.unlink(p)
        time.sleep(0.05)
    env.quiesce(quiet=1.0, at_least=11)
    recs = env.records(1)
    last = recs[-1]["index"]
    byidx = {r["index"]: r for r in recs}
    print("journaled %d records, last %d" % (len(recs), last))

    # types
    got = tail(env, "types")
    want = [r["index"] for r in recs if r["type"] in ("CREAT", "MKDIR")]
    if [r["index"] for r in got] != want:
        raise Failed("types: got %s, want %s" % ([r["index"] for r in got][:30], want[:30]))
    print("ok: types received exactly the %d CREAT/MKDIR records" % len(want))

    # subtree: the FIDs of a/ and everything ever under it
    under = {a_fid}
    for r in recs:  # journal order: parents are known before children
        if r.get("pfid") in under and r.get("tfid", ZERO) != ZERO:
            under.add(r["tfid"])
    got = tail(env, "sub")
    gidx = [r["index"] for r in got]
    want = [r["index"] for r in recs if any(f in under for f in fids_of(r))]
    if gidx != want:
        miss = [byidx[i] for i in want if i not in set(gidx)]
        extra = [byidx[i] for i in gidx if i not in set(want)]
        raise Failed("sub: got %d records, want %d; missing %s; unexpected %s" % (
            len(gidx), len(want), miss[:3], extra[:3]))
    if not any(r["type"] == "RENME" for r in got):
        raise Failed("sub: the rename into a/ is missing")
    print("ok: sub received exactly the %d records of a/ (incl. the rename into it)"
          % len(want))

    # cancel + collapse
    got = tail(env, "cc")
    for r in got:
        j = byidx.get(r["index"])
        if not j or j["type"] != r["type"] or j.get("tfid") != r.get("tfid"):
            raise Failed("cc: record %s is not the journal's %s" % (r, j))
    tmp = {r["tfid"] for r in recs if r.get("name", "").startswith("tmp")
           and r["type"] in ("CREAT", "UNLNK")}
    leaked = [r for r in got if r.get("tfid") in tmp]
    created = [r for r in recs if r["type"] == "CREAT" and r.get("tfid") in tmp]
    if not created:
        raise Failed("cc: the journal has no CREAT of the temporary files: nothing to cancel")
    if leaked:
        raise Failed("cc: created-and-removed files were delivered: %s" % leaked[:4])
    if len(got) >= len(recs):
        raise Failed("cc: nothing was cancelled or collapsed (%d of %d)" % (len(got),
                                                                          len(recs)))
    print("ok: cc received %d of %d records (%d creates cancelled with their unlinks)"
          % (len(got), len(recs), len(created)))

    # fields = none
    got = tail(env, "fields")
    if [r["index"] for r in got] != [r["index"] for r in recs]:
        raise Failed("fields: not every record delivered")
    withuid = [r for r in got if "uid" in r]
    if withuid or not any("uid" in r for r in recs):
        raise Failed("fields: uid/gid still present (%d) or never journaled" % len(withuid))
    print("ok: fields = none delivered every record without extensions")

    gs = wait_positions(env, ["types", "sub", "cc", "fields"], last)
    for n in ("types", "sub", "cc"):
        if not gs[n].get("declared", True):
            raise Failed("%s not shown as declared" % n)
    print("ok: every group's position reached %d (dropped records acked)" % last)

    # loafre stats: the MDT's current index and read rate
    st = dict(l.split(" ", 1) for l in env.lf("stats").stdout.splitlines() if " " in l)
    if int(st.get("mdt.%s.index" % env.mdt, -1)) != last or \
            "mdt.%s.read_rate" % env.mdt not in st:
        raise Failed("loafre stats: no mdt.%s.index %d / read_rate: %s" % (
            env.mdt, last, {k: v for k, v in st.items() if k.startswith("mdt.")}))
    print("ok: loafre stats shows %s at index %d with its read rate" % (env.mdt, last))

    # A restart keeps the positions and the modules.
    env.stop()
    env.start()
    os.mkdir(os.path.join(a, "after"))
    env.quiesce(quiet=1.0, at_least=1)
    # the new record is not acked yet: a lag in records and in seconds
    t0 = time.monotonic()
    m = {}
    while time.monotonic() - t0 < 10:
        m = groups_json(env).get("types", {}).get("mdts", [{}])[0]
        if m.get("lag", 0) >= 1 and m.get("lag_seconds", 0) > 0:
            break
        time.sleep(0.2)
    else:
        raise Failed("loafre groups shows no lag for types: %s" % m)
    print("ok: loafre groups shows types %d record(s) and %.1f s behind" % (
        m["lag"], m["lag_seconds"]))
    got = tail(env, "types")
    if [r["type"] for r in got] != ["MKDIR"]:
        raise Failed("types after restart: %s" % got)
    print("ok: after a restart types resumes with only the new MKDIR")


def main():
    need_binaries()
    return run_env_test(body, prefix="loafre-bmod.")


if __name__ == "__main__":
    sys.exit(main())
