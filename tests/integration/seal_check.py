"""Independent checks and forgeries of run-file seals (RUN.h5.seal) for seal_test.sh: the SHA-256 by
hashlib, the Ed25519 signature by the openssl CLI (not libsodium), the facts by h5py.

usage: seal_check.py verify RUN.h5 STATION.pub
         the seal beside RUN.h5 is in the agreed format, signed by STATION.pub's key over its
         canonical form without "signature", and states the file's size, SHA-256, run id, outcome,
         simulated flag and instrument identities as h5py reads them.
       seal_check.py sign RUN.h5 SECRET.key [FIELD=JSON ...]
         writes RUN.h5.seal anew, signed by SECRET.key (openssl), from the seal beside it (or, when
         there is none, from the file as h5py reads it) with the fields given replaced (run_id,
         simulated, ...; "sha256=now" takes the file's hash as it is now).
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import h5py

DER_PUBLIC = bytes.fromhex("302a300506032b6570032100")  # SubjectPublicKeyInfo, Ed25519
DER_SECRET = bytes.fromhex("302e020100300506032b657004220420")  # PKCS#8, Ed25519 seed


def pem(kind, der):
    import base64
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, base64.b64encode(der).decode(), kind)


def canonical(doc):
    """docs/CERTIFICATES.md §7 for what a seal holds (no reals): compact, keys sorted, non-ASCII and
    control characters as \\uXXXX with uppercase hex digits (Python writes them lowercase)."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    # an odd run of backslashes before "u" is an escape; an even one is escaped backslashes
    return re.sub(r"(\\+)u([0-9a-f]{4})",
                  lambda m: m.group(1) + "u" + (m.group(2).upper() if len(m.group(1)) % 2 else m.group(2)),
                  text).encode()


def key_hex(path, tag):
    line = open(path).read().strip()
    assert line.startswith(tag + " "), path
    return line.split(" ", 1)[1]


def openssl(args, data=None):
    return subprocess.run(["openssl"] + args, input=data, capture_output=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def facts(path):
    f = h5py.File(path, "r")
    s = lambda v: v.decode() if isinstance(v, bytes) else str(v)
    first = sorted(k for k in f if k.startswith("specimen_"))[0]
    inst = []
    for name, g in f[first + "/instrument"].items():
        inst.append({"name": name, "model": s(g.attrs.get("model", "")), "serial": s(g.attrs.get("serial_number", "")),
                     "firmware": s(g.attrs.get("firmware", ""))})
    return {"run_id": s(f.attrs["run_id"]), "outcome": s(f.attrs.get("outcome", "")),
            "simulated": int(f.attrs["simulated"]) == 1, "instruments": inst}


def verify(run, pub_path):
    seal = json.load(open(run + ".seal"))
    assert sorted(seal) == sorted(["format", "run_id", "file", "size", "sha256", "closed", "outcome", "simulated",
                                   "instruments", "station", "signature"]), sorted(seal)
    assert seal["format"] == "polydaq-seal-1"
    assert seal["file"] == os.path.basename(run), seal["file"]
    assert seal["size"] == os.path.getsize(run), (seal["size"], os.path.getsize(run))
    assert seal["sha256"] == sha256(run), "sha256 differs from hashlib's"
    pub = key_hex(pub_path, "polydaq-ed25519-public")
    assert seal["station"]["public_key"] == pub
    assert seal["station"]["key_id"] == hashlib.sha256(bytes.fromhex(pub)).hexdigest()[:16]
    fx = facts(run)
    for k in ("run_id", "outcome", "simulated"):
        assert seal[k] == fx[k], (k, seal[k], fx[k])
    assert sorted(seal["instruments"], key=lambda i: i["name"]) == sorted(fx["instruments"], key=lambda i: i["name"]), \
        (seal["instruments"], fx["instruments"])
    signature = bytes.fromhex(seal.pop("signature"))
    with tempfile.TemporaryDirectory() as d:
        open(d + "/pub.pem", "w").write(pem("PUBLIC KEY", DER_PUBLIC + bytes.fromhex(pub)))
        open(d + "/msg", "wb").write(canonical(seal))
        open(d + "/sig", "wb").write(signature)
        r = openssl(["pkeyutl", "-verify", "-pubin", "-inkey", d + "/pub.pem", "-rawin", "-in", d + "/msg",
                     "-sigfile", d + "/sig"])
        assert r.returncode == 0, "openssl: the signature does not verify: %s" % r.stdout.decode()
        # and one changed byte of the signed text fails under openssl too
        open(d + "/msg", "wb").write(canonical(dict(seal, simulated=not seal["simulated"])))
        r = openssl(["pkeyutl", "-verify", "-pubin", "-inkey", d + "/pub.pem", "-rawin", "-in", d + "/msg",
                     "-sigfile", d + "/sig"])
        assert r.returncode != 0, "openssl accepts an altered seal"


def sign(run, secret_path, edits):
    path = run + ".seal"
    if os.path.exists(path):
        seal = json.load(open(path))
    else:
        seal = dict(facts(run), format="polydaq-seal-1", file=os.path.basename(run), size=os.path.getsize(run),
                    sha256=sha256(run), closed="2026-12-03T00:00:00.000000000Z", station={"name": "forged"})
    seal.pop("signature", None)
    for e in edits:
        k, v = e.split("=", 1)
        seal[k] = sha256(run) if (k, v) == ("sha256", "now") else json.loads(v)
    sk = bytes.fromhex(key_hex(secret_path, "polydaq-ed25519-secret"))
    pub = sk[32:].hex()
    seal["station"] = dict(seal["station"], public_key=pub, key_id=hashlib.sha256(sk[32:]).hexdigest()[:16])
    with tempfile.TemporaryDirectory() as d:
        fd = os.open(d + "/key.pem", os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, pem("PRIVATE KEY", DER_SECRET + sk[:32]).encode())
        os.close(fd)
        open(d + "/msg", "wb").write(canonical(seal))
        r = openssl(["pkeyutl", "-sign", "-inkey", d + "/key.pem", "-rawin", "-in", d + "/msg", "-out", d + "/sig"])
        assert r.returncode == 0, r.stderr.decode()
        seal["signature"] = open(d + "/sig", "rb").read().hex()
    open(path, "w").write(json.dumps(seal) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "sign":
        sign(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)
