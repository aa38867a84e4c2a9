"""server_pages.py — the item and complaint pages of `polydaq serve` in headless Chromium (Selenium):
a technician receives items on a request's page (a missing field refused and focused, then three
items with their ids listed), opens the label sheet (the PDF fetched by the page's own link and
read back with pdftotext) and an item's page; the member sees its items, files a complaint (an
unknown certificate refused naming the field, then one the registry holds); the technician
acknowledges it and records findings, the reviewer closes it with the outcome; the member reads
state, outcome and history, also at phone width; another member sees none of it. With
--screenshots DIR, the pages are written there as PNG."""
import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from server_lib import PASSWORDS, REVIEW, Client, Server, check, failures, make_lab, new_request, register_certificates
from web_lib import Browser, finish

ap = argparse.ArgumentParser()
ap.add_argument("--screenshots", help="write PNGs of the pages to this folder")
args = ap.parse_args()

data, member_a, member_b = make_lab()
register_certificates(data, ["CERT-000101"])
server = Server(data)
base = f"http://127.0.0.1:{server.port}"
alice_api = Client(server, "alice", PASSWORDS["alice"])
req = new_request(alice_api, material="PBT GF30 <i>black</i>")
st, _, body = Client(server, "rita", PASSWORDS["rita"]).call("POST", f"/api/v1/requests/{req}/accept", REVIEW)
assert st == 200, (st, body)

browser = Browser(base, args.screenshots, on_skip=lambda: (server.stop(), shutil.rmtree(data)))
driver, wait = browser.driver, browser.wait


def login(name):
    browser.login(name, PASSWORDS[name])


def field_named(form, name):
    return form.find_element(By.NAME, name)


def show_section(heading_id):
    """Scrolls the section under that heading to the top of the window (for the screenshots)."""
    driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", heading_id)


def no_overflow(what):
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 0, f"{what} is {overflow} px wider than a phone's screen")


try:
    # -- The technician receives items on the request's page --
    login("tessa")
    driver.get(f"{base}/requests/{req}")
    browser.wait_heading(f"Request #{req}", "technician opens the accepted request")
    browser.wait_text("#no-items", "No items received yet", "no items before the receipt")
    form = driver.find_element(By.ID, "receive-form")
    check(field_named(form, "conforming").is_selected(), "conforming is ticked by default")
    # Keyboard only: count, Tab, description, Tab, condition, Tab past the box, Tab, Enter without storage.
    field_named(form, "count").click()
    driver.switch_to.active_element.send_keys(Keys.CONTROL, "a")
    driver.switch_to.active_element.send_keys("3", Keys.TAB)
    check(browser.active("description"), "Tab from the count reaches the description")
    driver.switch_to.active_element.send_keys("ISO 3167 type 1A bar <b>moulded</b>", Keys.TAB)
    check(browser.active("condition"), "Tab reaches the condition")
    driver.switch_to.active_element.send_keys("sealed bag, dry, no visible damage", Keys.TAB)
    check(browser.active("conforming"), "Tab reaches the conformity box")
    driver.switch_to.active_element.send_keys(Keys.TAB)
    check(browser.active("storage"), "Tab reaches the storage")
    driver.switch_to.active_element.send_keys(Keys.TAB, Keys.ENTER)  # the button, storage left empty
    browser.wait_text("#alert", "Fill in “Stored at”", "receipt without storage")
    check(browser.active("storage") and field_named(form, "storage").get_attribute("aria-invalid") == "true",
          "the empty storage field is marked and focused")
    check(driver.find_element(By.ID, "alert").get_attribute("aria-live") == "assertive", "errors are announced")
    driver.switch_to.active_element.send_keys("Conditioning room, shelf B3", Keys.ENTER)
    browser.wait_text("#status", "3 item(s) received: IT-", "receipt announced")
    rows = driver.find_elements(By.CSS_SELECTOR, "section[aria-labelledby=items-h] tbody tr")
    ids = [r.find_element(By.TAG_NAME, "a").text for r in rows]
    check(len(ids) == 3 and all(re.fullmatch(r"IT-\d{4}-\d{6}", i) for i in ids) and len(set(ids)) == 3,
          f"three items with lab-wide ids: {ids}")
    check(all(i in driver.find_element(By.ID, "status").text for i in ids), "the announcement names every id")
    check("<b>moulded</b>" in rows[0].text, f"the description is shown as typed: {rows[0].text!r}")
    check(driver.find_element(By.ID, "request-state").text == "items received", "the request moved on")
    show_section("items-h")
    browser.shot("items-lab")

    # The label sheet, fetched by the page with its own session through the link the page shows.
    link = driver.find_element(By.ID, "labels-link")
    check(link.get_attribute("href") == f"{base}/api/v1/requests/{req}/labels.pdf", f"label link {link.get_attribute('href')}")
    got = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: 'same-origin'}).then(async (r) => {
          const bytes = new Uint8Array(await r.arrayBuffer());
          let s = ''; for (const b of bytes) s += String.fromCharCode(b);
          done([r.status, r.headers.get('Content-Type'), btoa(s)]);
        }).catch((e) => done([0, String(e), '']));""", link.get_attribute("href"))
    check(got[0] == 200 and got[1] == "application/pdf", f"label sheet: {got[:2]}")
    work = tempfile.mkdtemp(prefix="pd-pages-")
    pdf = os.path.join(work, "labels.pdf")
    with open(pdf, "wb") as f:
        f.write(base64.b64decode(got[2]))
    text = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True).stdout
    check(all(i in text for i in ids) and "Acme Polymers GmbH" in text, f"the label sheet names every item: {text[:300]!r}")
    shutil.rmtree(work)

    # One item's page.
    driver.find_element(By.LINK_TEXT, ids[1]).click()
    browser.wait_heading(f"Item {ids[1]}", "item page")
    details = driver.find_element(By.CSS_SELECTOR, "dl.details").text
    check("Conditioning room, shelf B3" in details and "conforming" in details and "tessa" in details,
          f"item details: {details!r}")
    item_path = driver.current_url[len(base):]
    check(re.fullmatch(r"/items/\d+", item_path), f"item address {item_path}")
    browser.logout()

    # -- The member sees its items and files a complaint --
    login("alice")
    driver.get(f"{base}/requests/{req}")
    browser.wait_heading(f"Request #{req}", "member opens its request")
    member_ids = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "section[aria-labelledby=items-h] tbody a")]
    check(member_ids == ids, f"the member sees its items: {member_ids}")
    check(driver.find_elements(By.ID, "labels-link"), "the member gets the label sheet link")
    check(not driver.find_elements(By.ID, "receive-form"), "a member gets no receipt form")
    show_section("items-h")
    browser.shot("items-member")
    driver.find_element(By.LINK_TEXT, "Complaints").click()
    browser.wait_heading("Complaints of Acme Polymers GmbH", "member's complaints")
    browser.wait_text("#no-complaints", "No complaints", "no complaints yet")
    driver.find_element(By.LINK_TEXT, "File a complaint").click()
    browser.wait_heading("File a complaint", "complaint form")
    wait.until(lambda d: browser.active("request_id"))
    form = driver.find_element(By.ID, "complaint-form")
    options = [o.text for o in form.find_elements(By.CSS_SELECTOR, "select[name=request_id] option")]
    check(len(options) == 1 and options[0].startswith(f"#{req} — PBT GF30 <i>black</i>"), f"request choices {options}")
    driver.switch_to.active_element.send_keys(Keys.TAB)
    check(browser.active("certificate_number"), "Tab reaches the certificate number")
    driver.switch_to.active_element.send_keys("cert-000999", Keys.TAB)
    driver.switch_to.active_element.send_keys("Modulus lower than our own test", Keys.TAB)
    driver.switch_to.active_element.send_keys("We measure 2.9 GPa; the certificate says 2.6 GPa.", Keys.TAB)
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    browser.wait_text("#alert", "CERT-000999 is not a certificate issued by the laboratory", "unknown certificate")
    check(browser.active("certificate_number") and
          field_named(form, "certificate_number").get_attribute("aria-invalid") == "true",
          "the refused certificate number is marked and focused")
    browser.shot("complaint-error")
    driver.switch_to.active_element.send_keys(Keys.CONTROL, "a")
    driver.switch_to.active_element.send_keys("CERT-000101", Keys.ENTER)
    wait.until(lambda d: re.search(r"/complaints/\d+$", d.current_url))
    cid = int(driver.current_url.rsplit("/", 1)[1])
    browser.wait_heading(f"Complaint #{cid}", "the filed complaint")
    browser.wait_text("#status", f"Complaint #{cid} filed", "filing announced")
    check(driver.find_element(By.ID, "complaint-state").text == "received", "a new complaint is received")
    check("CERT-000101" in driver.find_element(By.CSS_SELECTOR, "dl.details").text, "the certificate is shown")
    check(not driver.find_elements(By.CSS_SELECTOR, "main form"), "a member gets no step forms")
    browser.logout()

    # -- The technician acknowledges and investigates; closing is not theirs --
    login("tessa")
    driver.find_element(By.LINK_TEXT, "Complaints").click()
    browser.wait_heading("All complaints", "lab's complaint list")
    check("CERT-000101" in driver.find_element(By.TAG_NAME, "tbody").text, "the lab sees the complaint")
    driver.find_element(By.LINK_TEXT, f"#{cid}").click()
    browser.wait_heading(f"Complaint #{cid}", "technician opens the complaint")
    check(not driver.find_elements(By.ID, "close-form"), "a technician gets no close form")
    form = driver.find_element(By.ID, "acknowledge-form")
    field_named(form, "note").send_keys("We are checking the raw data.")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait_text("#status", f"Complaint #{cid} acknowledged", "acknowledgement announced")
    check(driver.find_element(By.ID, "complaint-state").text == "acknowledged", "acknowledged")
    form = driver.find_element(By.ID, "investigation-form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait_text("#alert", "Fill in “Findings”", "findings required")
    check(browser.active("findings"), "the findings field has the focus")
    driver.switch_to.active_element.send_keys("Specimen 3 slipped; modulus from the crosshead.")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait_text("#status", f"Complaint #{cid} findings recorded", "findings announced")
    check(driver.find_element(By.ID, "complaint-state").text == "investigating", "investigating")
    check(not driver.find_elements(By.ID, "close-form"), "still no close form for a technician")
    browser.logout()

    # -- The reviewer closes it with the outcome --
    login("rita")
    driver.get(f"{base}/complaints/{cid}")
    browser.wait_heading(f"Complaint #{cid}", "reviewer opens the complaint")
    form = driver.find_element(By.ID, "close-form")
    field_named(form, "outcome").send_keys("Certificate revised with the extensometer modulus; member informed.")
    show_section("history-h")
    browser.shot("complaint-lab")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait_text("#status", f"Complaint #{cid} closed", "closing announced")
    check(driver.find_element(By.ID, "complaint-state").text == "closed", "closed")
    check(not driver.find_elements(By.CSS_SELECTOR, "main form"), "no step forms once closed")
    browser.logout()

    # -- The member reads state, outcome and history, also at phone width --
    login("alice")
    driver.get(f"{base}/complaints")
    browser.wait_heading("Complaints of Acme Polymers GmbH", "member's complaints again")
    check("closed" in driver.find_element(By.TAG_NAME, "tbody").text, "the list shows closed")
    driver.get(f"{base}/complaints/{cid}")
    browser.wait_heading(f"Complaint #{cid}", "member reopens the complaint")
    history = driver.find_element(By.ID, "history").text
    for want in ("received by alice", "acknowledged by tessa: We are checking the raw data.",
                 "investigation by tessa: Specimen 3 slipped", "closed by rita: Certificate revised"):
        check(want in history, f"history has {want!r}: {history!r}")
    check("Certificate revised with the extensometer modulus" in driver.find_element(By.CSS_SELECTOR, "dl.details").text,
          "the outcome is shown")
    browser.shot("complaint-member")
    driver.set_window_size(390, 844)
    for page, title in ((f"/complaints/{cid}", f"Complaint #{cid}"), ("/complaints", "Complaints of"),
                        ("/complaints/new", "File a complaint"), (f"/requests/{req}", f"Request #{req}"), (item_path, "Item IT-")):
        driver.get(base + page)
        browser.wait_heading(title, f"{page} at phone width")
        no_overflow(page)
    browser.shot("complaint-phone")
    driver.set_window_size(1280, 900)
    browser.logout()

    # -- Another member sees none of it --
    login("bruno")
    driver.get(f"{base}/complaints")
    browser.wait_heading("Complaints of Beta Plastics AG", "member B's complaints")
    check(driver.find_elements(By.ID, "no-complaints") and not driver.find_elements(By.CSS_SELECTOR, "tbody tr"),
          "member B's complaint list is empty")
    for page in (f"/complaints/{cid}", item_path, f"/requests/{req}"):
        driver.get(base + page)
        browser.wait_heading("Not found", f"member B opens {page}")
        body = driver.find_element(By.TAG_NAME, "body").text
        check(not any(s in body for s in ("Acme", "CERT-000101", "PBT", ids[0])), f"{page} shows A's data: {body!r}")
    driver.get(f"{base}/complaints/new")
    browser.wait_heading("File a complaint", "member B's complaint form")
    check(driver.find_elements(By.ID, "no-requests"), "member B has no request to complain about (A's not offered)")

    errors = browser.console_errors()
    check(not errors, f"browser console errors: {errors}")
finally:
    finish(browser, server, data)

print(f"item and complaint pages: {len(failures)} failure(s)", file=sys.stderr)
sys.exit(1 if failures else 0)
