#!/usr/bin/python3
"""independent_verify.py CERT.json LAB.pub — verifies a polydaq certificate without polydaq.
independent_verify.py --signed-bytes CERT.json — the bytes the lab's signature covers, on stdout.

An independent implementation of what docs/CERTIFICATES.md §7 specifies (canonical form, content
hash, the lab's Ed25519 signature, the two signed approvals), on Python's json and the
`cryptography` package (Debian: python3-cryptography): no code shared with polydaq's C. Exit 0
when everything holds, 1 (with the reason) when a check fails, 2 for unusable input.
"""
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def real(x):
    # %.17g, then as jansson writes reals: a ".0" when neither '.' nor 'e', exponent without '+'
    # and leading zeros.
    s = "%.17g" % x
    if "." not in s and "e" not in s:
        s += ".0"
    if "e" in s:
        mant, exp = s.split("e")
        sign = "-" if exp.startswith("-") else ""
        s = mant + "e" + sign + exp.lstrip("+-").lstrip("0")
    return s


SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string(s):
    out = ['"']
    for ch in s:
        cp = ord(ch)
        if ch in SHORT:
            out.append(SHORT[ch])
        elif cp < 0x20 or 0x7F < cp < 0x10000:
            out.append("\\u%04X" % cp)
        elif cp >= 0x10000:
            cp -= 0x10000
            out.append("\\u%04X\\u%04X" % (0xD800 | (cp >> 10), 0xDC00 | (cp & 0x3FF)))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical(v, without=()):
    """Compact, keys sorted bytewise (UTF-8), non-ASCII as \\uXXXX, reals with 17 digits."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return real(v)
    if isinstance(v, str):
        return string(v)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    keys = sorted((k for k in v if k not in without), key=lambda k: k.encode("utf-8"))
    return "{" + ",".join(string(k) + ":" + canonical(v[k]) for k in keys) + "}"


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def check(ok, what):
    if not ok:
        print("FAIL: " + what)
        sys.exit(1)
    print("ok: " + what)


def verify(key, sig_hex, message):
    try:
        key.verify(bytes.fromhex(sig_hex), message.encode("utf-8"))
        return True
    except (InvalidSignature, ValueError):
        return False


def signed_bytes(path):
    """--signed-bytes CERT.json: writes the bytes the lab signed (for `openssl pkeyutl -rawin`)."""
    doc = json.load(open(path, encoding="utf-8"), object_pairs_hook=no_duplicates)
    sys.stdout.buffer.write(canonical(doc, ("signature",)).encode("utf-8"))
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--signed-bytes":
        return signed_bytes(sys.argv[2])
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        doc = json.load(open(sys.argv[1], encoding="utf-8"), object_pairs_hook=no_duplicates)
        tag, hex_key = open(sys.argv[2], encoding="ascii").read().split()
        assert tag == "polydaq-ed25519-public"
        lab = Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))
    except (OSError, ValueError, AssertionError) as e:
        print("unusable input: %s" % e, file=sys.stderr)
        return 2
    sig = doc.get("signature") or {}
    check(doc.get("status") == "issued", "the certificate is issued")
    check(verify(lab, sig.get("value", ""), canonical(doc, ("signature",))),
          "the lab's Ed25519 signature over the canonical form verifies with LAB.pub")
    content = hashlib.sha256(
        canonical(doc, ("status", "approvals", "audit", "signature", "issued")).encode()).hexdigest()
    cid = doc["certificate_id"]
    approvals = {a.get("role"): a for a in doc.get("approvals", [])}
    rev, auth = approvals.get("reviewer", {}), approvals.get("authorizer", {})
    check(len(doc.get("approvals", [])) == 2 and rev and auth, "one reviewer's and one authorizer's approval")
    check(rev.get("content_sha256") == content == auth.get("content_sha256"),
          "both approved the content the certificate has now (%s)" % content[:16])
    keys = []
    for a, msg in ((rev, "polydaq-review-v1\n%s\n%s" % (cid, content)),
                   (auth, "polydaq-authorize-v1\n%s\n%s\n%s" % (cid, content, rev.get("signature", "")))):
        check("signature" in a and "public_key" in a, "the %s's approval is signed" % a["role"])
        pub = bytes.fromhex(a["public_key"])
        keys.append(pub)
        check(hashlib.sha256(pub).hexdigest()[:16] == a.get("key_id"), "the %s's key id" % a["role"])
        check(verify(Ed25519PublicKey.from_public_bytes(pub), a.get("signature", ""), msg),
              "the %s's signature" % a["role"])
    check(keys[0] != keys[1], "reviewer and authorizer signed with two different keys")
    print("%s: VERIFIED (independently)" % sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
