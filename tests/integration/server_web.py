"""server_web.py — the web interface of `polydaq serve` tested in headless Chromium (Selenium):
the static files over plain HTTP first (content types, bytes as in src/server/web/, no listing,
no traversal), then the member's and the lab's journeys through the pages: login (wrong password,
throttling), a request submitted with the keyboard only, the reviewer's acceptance with contract
points, the member seeing it accepted, another member seeing nothing of it, a forged CSRF token
refused with a message, an ended session sent back to the login, the admin's accounts page, the
pages at phone width. With --screenshots DIR, the main pages are written there as PNG."""
import argparse
import http.client
import os
import re
import shutil
import sys

from server_lib import PASSWORDS, SOURCE, Server, Client, check, cli, failures, make_lab, new_request

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from web_lib import Browser, finish

ap = argparse.ArgumentParser()
ap.add_argument("--screenshots", help="write PNGs of the main pages to this folder")
args = ap.parse_args()

data, member_a, member_b = make_lab()
r = cli("user", "add", "carl", "--data", data, "--name", "Carl Acme", "--role", "member",
        "--member", "Acme Polymers GmbH", stdin="pw-carl-correct-horse\n")
assert r.returncode == 0, r.stderr
server = Server(data)
base = f"http://127.0.0.1:{server.port}"


# --- The static files, over plain HTTP ------------------------------------------------------------
def raw_get(path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)  # the path is sent exactly as written
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, hdrs, body


web_dir = os.path.join(SOURCE, "src", "server", "web")
types = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
for name in sorted(os.listdir(web_dir)):
    st, hdrs, body = raw_get("/web/" + name)
    with open(os.path.join(web_dir, name), "rb") as f:
        want = f.read()
    check(st == 200 and body == want, f"/web/{name}: {st}, {len(body)} bytes, expected the file's {len(want)}")
    check(hdrs.get("content-type") == types[os.path.splitext(name)[1]], f"/web/{name}: {hdrs.get('content-type')}")
    check(hdrs.get("content-security-policy") == "default-src 'self'; frame-ancestors 'none'"
          and hdrs.get("x-content-type-options") == "nosniff", f"/web/{name}: security headers {hdrs}")
with open(os.path.join(web_dir, "index.html"), "rb") as f:
    shell = f.read()
for page in ("/", "/login", "/requests", "/requests/new", "/requests/12", "/admin", "/login?expired=1", "/items/4",
             "/complaints", "/complaints/new", "/complaints/3"):
    st, hdrs, body = raw_get(page)
    check(st == 200 and body == shell and hdrs.get("content-type", "").startswith("text/html"), f"page {page}: {st}")
for path in ("/web/", "/web", "/web/nope.js", "/web/../server.sqlite", "/web/%2e%2e/server.sqlite",
             "/web/..%2fserver.sqlite", "/web/%2e%2e%2fserver.sqlite", "/web/.hidden", "/web/APP.JS",
             "/web/app.js%00.png", "/web/app.js/", "/web//app.js", "/web/" + "a" * 300 + ".js",
             "/requests/01", "/requests/x", "/web/..", "/web/server.sqlite", "/etc/passwd", "/../etc/passwd"):
    st, hdrs, body = raw_get(path)
    check(st == 404 and hdrs.get("content-type", "").startswith("application/json"), f"GET {path}: {st}, expected 404")
    check(b"SQLite" not in body and b"<html" not in body.lower(), f"GET {path}: leaked content")
st, hdrs, _ = raw_get("/web/app.js")  # POST on a file: 405, nothing served
conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
conn.request("POST", "/web/app.js", body=b"{}", headers={"Content-Type": "application/json"})
resp = conn.getresponse()
resp.read()
check(resp.status == 405, f"POST /web/app.js: {resp.status}")
conn.close()
if failures:
    server.stop()
    sys.exit(1)

# --- The browser ------------------------------------------------------------------------------------
browser = Browser(base, args.screenshots, on_skip=lambda: (server.stop(), shutil.rmtree(data)))
driver, wait = browser.driver, browser.wait
shot, wait_heading, wait_text, active, type_login, logout = (browser.shot, browser.wait_heading, browser.wait_text,
                                                            browser.active, browser.type_login, browser.logout)


def login(login_name):
    browser.login(login_name, PASSWORDS.get(login_name, "pw-carl-correct-horse"))


try:
    # -- Login: a wrong password is said, focus back on the password; an unknown login is throttled --
    driver.get(base + "/requests")
    wait.until(lambda d: d.current_url.endswith("/login"))  # no session: the login page, no "ended" message
    check(driver.find_element(By.ID, "alert").text == "", "first visit: no error message")
    shot("login")
    type_login("alice", "not-her-password")
    wait_text("#alert", "Wrong login or password", "wrong password")
    check(active("password"), "after a failed login the focus is on the password")
    # From the 5th failure in a row the login waits (4 s, then 8 s …): the next try within the wait
    # is refused. (A machine so slow that a try comes after the wait only makes it fail again.)
    for attempt in range(1, 10):
        type_login("mallory", "guessing-passwords")
        wait.until(lambda d: d.find_element(By.ID, "alert").text)
        if "Too many" in driver.find_element(By.ID, "alert").text:
            break
    check(attempt >= 6, f"throttled already at try {attempt}")
    wait_text("#alert", "Too many failed logins", "throttled login")
    check(re.search(r"Wait \d+ s", driver.find_element(By.ID, "alert").text), "throttle message names the wait")

    # -- Member A: empty list, then a request submitted with the keyboard only --
    login("alice")
    wait_heading("Test requests of Acme Polymers GmbH", "member's list")
    check(driver.find_elements(By.ID, "no-requests"), "a fresh member has no requests")
    driver.get(base + "/requests/new")
    wait_heading("New test request", "new request page")
    wait.until(lambda d: active("material"))
    # Submitting without a method or specification: the server's message is announced.
    ae = driver.switch_to.active_element
    ae.send_keys("PP homopolymer HP500N <b>batch</b> 42")
    ae = driver.find_element(By.NAME, "due_date")
    ae.send_keys("12312099")
    driver.find_element(By.NAME, "decision_rule_agreed").send_keys(Keys.SPACE)
    driver.find_element(By.NAME, "decision_rule_agreed").send_keys(Keys.TAB)
    check(driver.switch_to.active_element.text == "Submit request", "Tab after the agreement reaches Submit")
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait_text("#alert", "specification", "request without methods")
    shot("request-error")
    # Now field by field with Tab, as a keyboard user does.
    driver.find_element(By.NAME, "material").click()
    steps = [("material", None), ("specification", "EN ISO 19069-2"), ("methods", "ISO 527-2/1A/50, ISO 178"),
             ("specimens", [Keys.CONTROL, "a"]), ("conditioning", "ISO 291 23/50, 88 h"), ("due_date", None),
             ("customer_reference", "PO-7731"), ("notes", "Natural colour; 'quotes' & <angle> brackets")]
    for i, (name, keys) in enumerate(steps):
        check(active(name), f"keyboard: focus on {name}, got {driver.switch_to.active_element.get_attribute('name')}")
        if name == "specimens":
            driver.switch_to.active_element.send_keys(Keys.CONTROL, "a")
            driver.switch_to.active_element.send_keys("3")
        elif keys:
            driver.switch_to.active_element.send_keys(keys)
        # Tab steps through a date input's parts (month, day, year) before it leaves the field.
        for _ in range(6 if name == "due_date" else 1):
            if active(name):
                driver.switch_to.active_element.send_keys(Keys.TAB)
        check(not active(name), f"keyboard: Tab leaves {name}")
    check(active("decision_rule_agreed"), "keyboard: focus on the decision-rule agreement")
    # The lab's focus ring (style.css), not only the browser's default: 3 px solid amber.
    ring = driver.execute_script("const s = getComputedStyle(document.activeElement); "
                                 "return [s.outlineStyle, s.outlineWidth, s.outlineColor]")
    check(ring == ["solid", "3px", "rgb(232, 161, 0)"], f"the keyboard focus is visible (outline {ring})")
    check(driver.switch_to.active_element.is_selected(), "agreement still ticked")
    shot("request-new")
    driver.switch_to.active_element.send_keys(Keys.TAB, Keys.ENTER)
    wait.until(lambda d: re.search(r"/requests/\d+$", d.current_url))
    req_id = int(driver.current_url.rsplit("/", 1)[1])
    wait_heading(f"Request #{req_id}", "request detail")
    wait_text("#status", f"Request #{req_id} submitted", "submission announced")
    check(driver.find_element(By.ID, "request-state").text == "submitted", "new request is submitted")
    details = driver.find_element(By.CSS_SELECTOR, "dl.details").text
    for want in ("PP homopolymer HP500N <b>batch</b> 42", "ISO 527-2/1A/50, ISO 178", "2099-12-31", "PO-7731",
                 "EN ISO 19069-2", "'quotes' & <angle> brackets", "ILAC-G8"):
        check(want in details, f"request detail shows {want!r} (as text): {details!r}")
    check(not driver.find_elements(By.CSS_SELECTOR, "main b"), "markup in a field is shown as text, not HTML")
    check(not driver.find_elements(By.ID, "accept-form"), "a member gets no review form")
    shot("request-member")

    # -- A forged CSRF token (altered in the page): refused, said, nothing stored --
    driver.get(base + "/requests/new")
    wait_heading("New test request", "new request page again")
    driver.execute_script("document.querySelector('meta[name=\"csrf-token\"]').setAttribute('content', '0'.repeat(64))")
    driver.find_element(By.NAME, "material").send_keys("forged")
    driver.find_element(By.NAME, "methods").send_keys("ISO 527-2")
    driver.find_element(By.NAME, "due_date").send_keys("12312099")
    driver.find_element(By.NAME, "decision_rule_agreed").click()
    driver.find_element(By.CSS_SELECTOR, "#request-form button[type=submit]").click()
    wait_text("#alert", "security token was not accepted", "forged CSRF token")
    check(driver.current_url.endswith("/requests/new"), "forged CSRF: still on the form")
    driver.get(base + "/requests")
    wait_heading("Test requests of", "list after forged submission")
    rows = driver.find_elements(By.CSS_SELECTOR, "tbody tr")
    check(len(rows) == 1 and f"#{req_id}" in rows[0].text and "submitted" in rows[0].text,
          f"member's list after the forged attempt: {[r.text for r in rows]}")
    shot("requests-member")
    logout()

    # -- Staff: a technician sees it but may not review; a reviewer accepts with the contract points --
    login("tessa")
    wait_heading("All test requests", "technician's list")
    driver.get(f"{base}/requests/{req_id}")
    wait_heading(f"Request #{req_id}", "technician opens the request")
    check(not driver.find_elements(By.ID, "accept-form"), "a technician gets no review form")
    logout()
    login("rita")
    wait_heading("All test requests", "reviewer's list")
    check("Acme Polymers GmbH" in driver.find_element(By.TAG_NAME, "tbody").text, "the lab sees the member's request")
    shot("requests-lab")
    driver.find_element(By.LINK_TEXT, f"#{req_id}").click()
    wait_heading(f"Request #{req_id}", "reviewer opens the request")
    form = driver.find_element(By.ID, "accept-form")
    for name in ("requirements_defined", "methods_appropriate", "capability_and_resources", "due_date_feasible"):
        form.find_element(By.NAME, name).send_keys(Keys.SPACE)
    form.find_element(By.NAME, "comments").send_keys("Frame 2 free in week 50")
    shot("request-review")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_text("#status", f"Request #{req_id} accepted", "acceptance announced")
    check(driver.find_element(By.ID, "request-state").text == "accepted", "accepted after review")
    points = driver.find_element(By.ID, "review-points").text
    check(points.count("Yes") == 4 and "No — Part of the work is subcontracted" in points, f"contract points: {points!r}")
    check(not driver.find_elements(By.ID, "accept-form"), "no review form once accepted")
    # A second request (submitted through the API) is rejected: a reason is required, then shown.
    second = new_request(Client(server, "alice", PASSWORDS["alice"]), material="PA6 GF30 dry")
    driver.get(f"{base}/requests/{second}")
    wait_heading(f"Request #{second}", "reviewer opens the second request")
    form = driver.find_element(By.ID, "reject-form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_text("#alert", "Give the reason for the rejection", "reject without a reason")
    check(active("reason"), "the reason field has the focus")
    form.find_element(By.NAME, "reason").send_keys("No ISO 527 frame free before the due date")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_text("#status", f"Request #{second} rejected", "rejection announced")
    check(driver.find_element(By.ID, "request-state").text == "rejected", "rejected after review")
    check("No ISO 527 frame free" in driver.find_element(By.CSS_SELECTOR, "dl.details").text, "reason shown")
    logout()

    # -- Member A sees it accepted with its history --
    login("alice")
    check("accepted" in driver.find_element(By.TAG_NAME, "tbody").text, "member's list shows accepted")
    driver.get(f"{base}/requests/{req_id}")
    wait_heading(f"Request #{req_id}", "member reopens the request")
    history = driver.find_element(By.ID, "history").text
    check("submitted by alice" in history and "accepted by rita" in history, f"history: {history!r}")
    check("Frame 2 free in week 50" in driver.find_element(By.TAG_NAME, "main").text, "review comments shown")
    shot("request-accepted")
    # At phone width: nothing wider than the screen.
    driver.set_window_size(390, 844)
    driver.refresh()
    wait_heading(f"Request #{req_id}", "phone width")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 0, f"the request page is {overflow} px wider than a phone's screen")
    shot("request-phone")
    for page, title in (("/requests", "Test requests of"), ("/requests/new", "New test request")):
        driver.get(base + page)
        wait_heading(title, f"{page} at phone width")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        check(overflow <= 0, f"{page} is {overflow} px wider than a phone's screen")
    driver.set_window_size(1280, 900)
    logout()

    # -- Member B sees nothing of it: empty list, the request's address is the not-found page --
    login("bruno")
    wait_heading("Test requests of Beta Plastics AG", "member B's list")
    check(driver.find_elements(By.ID, "no-requests") and not driver.find_elements(By.CSS_SELECTOR, "tbody tr"),
          "member B's list is empty")
    check("Acme" not in driver.find_element(By.TAG_NAME, "body").text, "member B's page names no other company")
    driver.get(f"{base}/requests/{req_id}")
    wait_heading("Not found", "member B opens A's request")
    check("PP homopolymer" not in driver.find_element(By.TAG_NAME, "body").text, "nothing of A's request shown")
    shot("not-found")
    logout()

    # -- A session that ends (the user disabled on the server) → the login page with a message --
    login("carl")
    r = cli("user", "disable", "carl", "--data", data)
    check(r.returncode == 0, f"user disable: {r.stderr}")
    driver.find_element(By.LINK_TEXT, "Our requests").click()
    wait.until(lambda d: "/login" in d.current_url)
    wait_text("#alert", "Your session has ended", "ended session")

    # -- The admin's accounts page: add a member, reset a password (the old one then fails) --
    login("ada")
    driver.get(base + "/admin")
    wait_heading("Users and members", "admin page")
    f = driver.find_element(By.ID, "member-form")
    f.find_element(By.NAME, "name").send_keys("Gamma Resins SE", Keys.ENTER)
    wait_text("#status", "Member Gamma Resins SE added", "member added")
    uf = driver.find_element(By.ID, "user-form")
    uf.find_element(By.NAME, "login").send_keys("gina")
    uf.find_element(By.NAME, "name").send_keys("Gina Gamma")
    uf.find_element(By.NAME, "password").send_keys("short")
    uf.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_text("#alert", "password", "short password refused")
    check(active("password"), "the refused field has the focus")
    row = [r for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr") if r.text.startswith("bruno")][0]
    row.find_element(By.NAME, "password").send_keys("a-new-password-for-bruno", Keys.ENTER)
    wait_text("#status", "Password of bruno reset", "password reset")
    shot("admin")
    # Disabling asks first: dismissed, nothing happens; confirmed, the user is disabled.
    def user_row(login_name):
        return [r for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr") if r.text.startswith(login_name)][0]
    user_row("tessa").find_element(By.CSS_SELECTOR, "button[aria-label='Disable tessa']").click()
    wait.until(lambda d: d.switch_to.alert).dismiss()
    check("active" in user_row("tessa").text, "dismissed: tessa still active")
    user_row("tessa").find_element(By.CSS_SELECTOR, "button[aria-label='Disable tessa']").click()
    wait.until(lambda d: d.switch_to.alert).accept()
    wait_text("#status", "User tessa disabled", "user disabled")
    check("disabled" in user_row("tessa").text, "tessa shown disabled")
    r = cli("user", "list", "--data", data)
    check(re.search(r"tessa\s.*disabled", r.stdout), f"tessa disabled in the database: {r.stdout}")
    logout()
    type_login("bruno", PASSWORDS["bruno"])
    wait_text("#alert", "Wrong login or password", "old password after reset")
    PASSWORDS["bruno"] = "a-new-password-for-bruno"
    login("bruno")

    # No script errors in the browser's console along the way (CSP violations would show here).
    errors = browser.console_errors()
    check(not errors, f"browser console errors: {errors}")
finally:
    finish(browser, server, data)

print(f"web interface: {len(failures)} failure(s)", file=sys.stderr)
sys.exit(1 if failures else 0)
