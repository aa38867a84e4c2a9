"""server_journey.py — the whole journey of a test request in a real browser (headless Chromium
driven by Selenium against `polydaq serve` on loopback, with a local SMTP sink): member A submits a
request, a reviewer accepts it, the lab receives its items (through the API: the item pages are
another page set), a technician uploads a run file made by the simulator and links it, certifies
it by the lab's specification, a reviewer reviews and an authorizer — another person — authorizes
it with the keys their logins unlocked; member A's contact receives the e-mail, sees the
certificate, downloads its PDF (read back with pdftotext; its QR code decoded with zbarimg) and
opens the QR's verification address when the server has the public page; member B sees none of
it. `--screenshots DIR` writes the pages as PNG files."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from server_lib import PASSWORDS, SOURCE, Client, Server, check, cli, finish, make_lab, make_run
from web_lib import Browser

HERE = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--screenshots")
args = ap.parse_args()
# A relative folder is the source tree's (the script runs from its own folder).
shots = os.path.join(SOURCE, args.screenshots) if args.screenshots else None

data, member_a, member_b = make_lab(certs=True)
work = data + "-made"
run_path = make_run(data + "-station", work)
upload_path = os.path.join(work, "tensile-lot-42.h5")
os.rename(run_path, upload_path)
# The member's contact who gets the notices.
PASSWORDS["carla"] = "pw-carla-correct-horse"
r = cli("user", "add", "carla", "--data", data, "--name", "Carla Contact", "--role", "member", "--member",
        "Acme Polymers GmbH", "--email", "carla@acme.example", stdin=PASSWORDS["carla"] + "\n")
assert r.returncode == 0, r.stderr

s = socket.socket()
s.bind(("127.0.0.1", 0))
smtp_port = s.getsockname()[1]
s.close()
mail_dir = tempfile.mkdtemp(prefix="pd-journey-mail-")
sink = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "smtp_sink.py"), str(smtp_port), mail_dir],
                        stdout=subprocess.PIPE, text=True)
assert sink.stdout.readline().strip() == "ready", "the SMTP sink did not start"
server = Server(data, "--smtp", f"smtp://127.0.0.1:{smtp_port}", "--mail-from", "lab@example.org")
base = f"http://127.0.0.1:{server.port}"
# The lab's public address, which certify writes into the certificate and its QR code.
r = cli("registry", "set-url", base, "-o", os.path.join(data, "certs"))
assert r.returncode == 0, r.stderr


def cleanup():
    server.stop()
    sink.send_signal(signal.SIGTERM)
    sink.wait(timeout=30)


browser = Browser(base, shots, on_skip=cleanup)
driver, wait = browser.driver, browser.wait


def login(who):
    if driver.find_elements(By.ID, "logout"):
        browser.logout()
    browser.login(who, PASSWORDS[who])


def submit(form_id):
    driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]").click()


def mails_to(addr, pattern, timeout=30):
    """The messages the sink received for `addr` whose subject matches (waits for one)."""
    end = time.monotonic() + timeout
    while True:
        found = []
        for f in sorted(os.listdir(mail_dir)):
            if f.endswith(".json"):
                m = json.load(open(os.path.join(mail_dir, f)))
                subj = re.search(r"^Subject: (.*)$", m["content"], re.M)
                if addr in m["rcpt_tos"] and subj and re.search(pattern, subj.group(1)):
                    found.append(m)
        if found or time.monotonic() > end:
            return found
        time.sleep(0.2)


try:
    # -- member A submits a request ------------------------------------------------------------
    login("alice")
    driver.get(base + "/requests/new")
    browser.wait_heading("New test request", "new request page")
    driver.find_element(By.NAME, "material").send_keys("PP H350 natural, lot 42")
    driver.find_element(By.NAME, "methods").send_keys("ISO 527-2/1A/50")
    driver.find_element(By.NAME, "due_date").send_keys("12312099")
    driver.find_element(By.NAME, "decision_rule_agreed").click()
    submit("request-form")
    wait.until(lambda d: re.search(r"/requests/\d+$", d.current_url))
    req = int(driver.current_url.rsplit("/", 1)[1])
    browser.wait_heading(f"Request #{req}", "the new request")
    check(driver.find_element(By.ID, "no-certs"), "a new request has no certificate")

    # -- the lab accepts it and receives the items ------------------------------------------------
    login("rita")
    driver.get(f"{base}/requests/{req}")
    browser.wait_heading(f"Request #{req}", "reviewer opens the request")
    form = driver.find_element(By.ID, "accept-form")
    for name in ("requirements_defined", "methods_appropriate", "capability_and_resources", "due_date_feasible"):
        form.find_element(By.NAME, name).click()
    submit("accept-form")
    browser.wait_text("#request-state", "accepted", "accepted")
    tessa_api = Client(server, "tessa", PASSWORDS["tessa"])
    st, _, body = tessa_api.call("POST", f"/api/v1/requests/{req}/items",
                                 {"count": 5, "description": "ISO 3167 type 1A bars", "condition": "sealed bag",
                                  "conforming": True, "storage": "conditioning room, shelf 2"})
    check(st == 201, f"items: {st} {body}")

    # -- a technician uploads the run, links it, certifies ------------------------------------------
    login("tessa")
    driver.get(f"{base}/requests/{req}")
    browser.wait_heading(f"Request #{req}", "technician opens the request")
    up = driver.find_element(By.ID, "upload-form")
    up.find_element(By.NAME, "file").send_keys(upload_path)
    check(up.find_element(By.NAME, "name").get_attribute("value") == "tensile-lot-42.h5", "the name proposed")
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "link-h"))
    browser.shot("journey-upload")
    submit("upload-form")
    browser.wait_text("#status", "tensile-lot-42.h5 stored (5 specimens)", "upload announced")
    Select(driver.find_element(By.CSS_SELECTOR, "#link-form select")).select_by_visible_text(
        "tensile-lot-42.h5 (5 specimens)")
    submit("link-form")
    browser.wait_text("#request-state", "testing", "testing after the link")
    check("tensile-lot-42.h5" in driver.find_element(By.ID, "runs-h").find_element(By.XPATH, "..").text,
          "the linked run is listed")
    Select(driver.find_element(By.CSS_SELECTOR, "#certify-form select")).select_by_visible_text("pp-demo.yaml")
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "runs-h"))
    browser.shot("journey-certify")
    submit("certify-form")
    wait.until(lambda d: re.search(r"/certificates/\d+$", d.current_url))
    number = int(driver.current_url.rsplit("/", 1)[1])
    cert_id = f"CERT-{number:06d}"
    browser.wait_heading(cert_id, "the draft's page")
    browser.wait_text("#cert-status", "draft", "a draft")
    check(not driver.find_elements(By.ID, "review-form"), "a technician gets no review form")

    # -- member A does not see the draft -------------------------------------------------------
    login("alice")
    driver.get(f"{base}/certificates/{number}")
    browser.wait_heading("Not found", "the member opens the draft")

    # -- two people sign: review, then authorize ---------------------------------------------------
    login("arno")
    driver.get(f"{base}/certificates/{number}")
    browser.wait_heading(cert_id, "authorizer opens the draft")
    check(not driver.find_elements(By.ID, "authorize-form") and not driver.find_elements(By.ID, "review-form"),
          "an authorizer gets no form before the review")
    login("rita")
    driver.get(f"{base}/certificates/{number}")
    browser.wait_heading(cert_id, "reviewer opens the draft")
    check(not driver.find_elements(By.ID, "no-key"), "the reviewer's key is unlocked")
    browser.shot("journey-review")
    submit("review-form")
    browser.wait_text("#cert-status", "reviewed", "reviewed")
    check(not driver.find_elements(By.ID, "authorize-form"), "the reviewer gets no authorize form")
    login("arno")
    driver.get(f"{base}/certificates/{number}")
    browser.wait_heading(cert_id, "authorizer opens the reviewed certificate")
    submit("authorize-form")
    browser.wait_text("#cert-status", "issued", "issued")
    details = driver.find_element(By.CSS_SELECTOR, "dl.details").text
    check("rita" in details and "arno" in details, f"reviewer and authorizer shown: {details!r}")
    browser.shot("journey-issued")

    # -- the member hears of it, sees it and downloads the PDF -----------------------------------------
    issued = mails_to("carla@acme.example", rf"Request {req}: certificate issued")
    check(len(issued) == 1, f"carla's 'certificate issued' mails: {len(issued)}")
    if issued:
        check(cert_id in issued[0]["content"], "the notice names the certificate")
    for subject in ("accepted", "items received", "testing", "certificate drafted"):
        check(mails_to("carla@acme.example", rf"Request {req}: {subject}", timeout=5),
              f"no '{subject}' notice for carla")
    check(not mails_to("bruno@", ".", timeout=0), "member B got mail")
    login("carla")
    driver.get(base + "/certificates")
    browser.wait_heading("Our certificates", "the member's certificates")
    check(cert_id in driver.find_element(By.TAG_NAME, "tbody").text, "the member sees the issued certificate")
    browser.shot("journey-member")
    # At phone width the member's pages fit the screen (tables scroll inside their region).
    driver.set_window_size(390, 844)
    for page, title in (("/certificates", "Our certificates"), (f"/certificates/{number}", cert_id),
                        (f"/requests/{req}", f"Request #{req}")):
        driver.get(base + page)
        browser.wait_heading(title, f"{page} at phone width")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        check(overflow <= 0, f"{page} is {overflow} px wider than a phone's screen")
    driver.set_window_size(1280, 900)
    pdf = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/api/v1/certificates/{number}/pdf', {{credentials: 'same-origin'}}).then(r => r.arrayBuffer())"
        ".then(b => done(Array.from(new Uint8Array(b)))).catch(e => done(String(e)));")
    pdf = bytes(pdf) if isinstance(pdf, list) else b""
    check(pdf.startswith(b"%PDF-"), "the member's PDF download")
    pdf_path = os.path.join(work, "downloaded.pdf")
    with open(pdf_path, "wb") as f:
        f.write(pdf)
    text = subprocess.run(["pdftotext", pdf_path, "-"], capture_output=True, text=True).stdout
    check(cert_id in text and "Acme Polymers GmbH" in text, "the PDF names the certificate and the member")
    qr = ""
    if shutil.which("zbarimg") and shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "300", "-png", pdf_path, os.path.join(work, "page")], check=True)
        for page in sorted(f for f in os.listdir(work) if f.startswith("page") and f.endswith(".png")):
            out = subprocess.run(["zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", os.path.join(work, page)],
                                 capture_output=True, text=True)
            qr = qr or out.stdout.strip()
        check(cert_id in qr, f"the QR code names the certificate: {qr!r}")
    # The QR's verification address, when it is one this server answers (the public page).
    m = re.search(r"(/v/[^\s#]+)(#\S*)?", qr)
    check(qr.startswith(base + "/v/" + cert_id + "#"), f"the QR code is this lab's verification address: {qr!r}")
    if m:
        driver.get(base + m.group(1) + (m.group(2) or ""))
        wait.until(lambda d: "valid" in d.find_element(By.TAG_NAME, "main").text.lower())
        check("valid" in driver.find_element(By.TAG_NAME, "main").text.lower(), "the verification page says valid")
        browser.shot("journey-verify")
    else:
        print(f"note: the QR code holds no verification address ({qr!r}): the public page is not on this branch",
              file=sys.stderr)

    # -- member B sees none of it --------------------------------------------------------------------
    login("bruno")
    driver.get(base + "/certificates")
    browser.wait_heading("Our certificates", "member B's certificates")
    check(driver.find_elements(By.ID, "no-certs"), "member B sees a certificate")
    for page in (f"/certificates/{number}", f"/requests/{req}"):
        driver.get(base + page)
        browser.wait_heading("Not found", f"member B opens {page}")
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/api/v1/certificates/{number}/pdf', {{credentials: 'same-origin'}}).then(r => done(r.status));")
    check(status == 404, f"member B's PDF download: {status}")
    # -- a revision drafted from the page: a reason is required, then the draft replaces the original --
    login("rita")
    driver.get(f"{base}/certificates/{number}")
    browser.wait_heading(cert_id, "reviewer opens the issued certificate")
    submit("revise-form")
    browser.wait_text("#alert", "Give the reason", "a revision without a reason")
    driver.find_element(By.CSS_SELECTOR, "#revise-form textarea").send_keys("the customer's lot number corrected")
    submit("revise-form")
    wait.until(lambda d: not d.current_url.endswith(f"/certificates/{number}"))
    browser.wait_text("#cert-status", "draft", "the revision's draft")
    check(f"Replaces{cert_id}" in driver.find_element(By.CSS_SELECTOR, "dl.details").text.replace("\n", ""),
          "the draft names the certificate it replaces")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "404" not in e["message"]]
    check(not errors, f"errors in the browser console: {errors}")
finally:
    browser.quit()
    cleanup()
shutil.rmtree(mail_dir, ignore_errors=True)
finish()
