"""public_lab.py — certificates in a lab server's data folder, for the tests of public verification
(server_verify.py, server_access.py): keys made by `polydaq keygen` outside the data folder (a lab's
secret keys do not belong on its server), the registry DATA/certs with the lab's verification base
URL, a quick simulated run in DATA/runs, CERT-000001 certified, reviewed and authorized (issued),
CERT-000002 left a draft, and the keyring and revocation list published in DATA/public — all
through the real CLI."""
import os
import tempfile

from server_lib import SOURCE, cli

SPEC = os.path.join(SOURCE, "config", "specs", "pp-demo.yaml")
RUN_CONFIG = os.path.join(SOURCE, "tests", "integration", "data", "fast-tensile.yaml")
LAB_NAME = "Integration Test Lab"


def run_cli(*args):
    r = cli(*args)
    assert r.returncode == 0, f"polydaq {' '.join(args)}: exit {r.returncode}: {r.stderr}"
    return r.stdout


def make_certs(data, url="http://127.0.0.1:8080", run=None):
    """Fills DATA/certs, DATA/runs (unless `run` names a run file to certify) and DATA/public;
    returns the paths a test needs."""
    keys = tempfile.mkdtemp(prefix="pd-keys-")
    certs, runs, public = (os.path.join(data, d) for d in ("certs", "runs", "public"))
    run = run or run_cli("run", RUN_CONFIG, "-o", runs).splitlines()[0]
    run_cli("keygen", "-o", keys)
    run_cli("keygen", "--person", "R. Viewer", "-o", keys)
    run_cli("keygen", "--person", "B. Boss", "-o", keys)
    lab_key, lab_pub = os.path.join(keys, "lab.key"), os.path.join(keys, "lab.pub")
    run_cli("registry", "init", certs, "--lab-key", lab_pub, "--name", LAB_NAME, "--url", url)
    run_cli("registry", "person", "add", "-o", certs, "--key", os.path.join(keys, "r-viewer.pub"), "--name",
            "R. Viewer", "--role", "reviewer")
    run_cli("registry", "person", "add", "-o", certs, "--key", os.path.join(keys, "b-boss.pub"), "--name",
            "B. Boss", "--role", "authorizer")
    paths = {"keys": keys, "certs": certs, "runs": runs, "public": public, "run": run, "lab_key": lab_key,
             "lab_pub": lab_pub, "reviewer": os.path.join(keys, "r-viewer.key"),
             "authorizer": os.path.join(keys, "b-boss.key")}
    certify(paths)
    certify(paths, issue=False)  # CERT-000002: a draft
    publish(paths)
    return paths


def certify(p, issue=True, revises=None):
    """Certifies the run (a revision of `revises` when given); issues it unless told not to. Its id."""
    extra = ["--revises", revises, "--reason", "the customer's name was misspelt"] if revises else []
    out = cli("certify", p["run"], "--spec", SPEC, "-o", p["certs"], "--request", "R-1", "--customer",
              "ACME Automotive", *extra)
    assert out.returncode in (0, 1), f"certify: exit {out.returncode}: {out.stderr}"
    cert_id = os.path.basename(out.stdout.splitlines()[0]).removesuffix(".json")
    if issue:
        run_cli("approve", cert_id, "-o", p["certs"], "--key", p["reviewer"], "--role", "reviewer")
        run_cli("approve", cert_id, "-o", p["certs"], "--key", p["authorizer"], "--role", "authorizer",
                "--lab-key", p["lab_key"])
    return cert_id


def publish(p):
    run_cli("registry", "publish", "-o", p["public"], "--registry", p["certs"], "--lab-key", p["lab_key"])
