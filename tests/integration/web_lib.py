"""web_lib.py — the lab server's pages in headless Chromium (Debian's chromium and chromium-driver,
driven by python3-selenium), for the browser tests (server_web.py; the test station's will share
it): starting the browser (exit 77 with Chromium's own error only when it cannot start here),
waiting for a page's heading or a message, the focused control, logging in and out with the
keyboard, and screenshots when asked for."""
import os
import re
import shutil
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from server_lib import check, fail, failures


# An element looked up while the page replaces it: Selenium raises StaleElementReferenceException, but
# newer chromedriver (156) reports some of these cases as a plain WebDriverException from the inspector.
_GONE = re.compile(r"does not belong to the document|stale element|No node with given id|Cannot find context")


class PageWait(WebDriverWait):
    """WebDriverWait whose condition is asked again when the element it read has just left the page
    (a page that renders replaces its elements); any other WebDriver error still propagates."""

    def until(self, method, message=""):
        def guarded(driver):
            try:
                return method(driver)
            except StaleElementReferenceException:
                return False
            except WebDriverException as e:
                if _GONE.search(str(e.msg or e)):
                    return False
                raise
        return super().until(guarded, message)


class Browser:
    def __init__(self, base, shots=None, on_skip=None):
        """Starts Chromium for the server at `base`; when it cannot start, calls on_skip and exits 77."""
        self.base = base
        self.shots = shots
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=1280,900", "--lang=en-US", "--no-first-run", "--disable-extensions"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            service = webdriver.chrome.service.Service("/usr/bin/chromedriver")
            self.driver = webdriver.Chrome(service=service, options=opts)
        except WebDriverException as e:
            if on_skip:
                on_skip()
            print(f"skip: Chromium cannot start in this environment: {e.msg or e}", file=sys.stderr)
            sys.exit(77)
        self.driver.set_page_load_timeout(30)  # ceilings for a loaded machine, not timing checks
        # Pages replace their elements as they render: a stale one is looked up again.
        self.wait = PageWait(self.driver, 20)

    def quit(self):
        self.driver.quit()

    def shot(self, name):
        if self.shots:
            os.makedirs(self.shots, exist_ok=True)
            self.driver.save_screenshot(os.path.join(self.shots, name + ".png"))

    def heading(self):
        return self.driver.find_element(By.TAG_NAME, "h1").text

    def wait_heading(self, text, what):
        """Waits for the page whose <h1> starts with `text`; a page never shows null/undefined."""
        try:
            self.wait.until(lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith(text))
            body = self.driver.find_element(By.TAG_NAME, "main").text
            check(not re.search(r"\b(null|undefined|NaN)\b|\[object ", body), f"{what}: the page shows {body!r}")
            return True
        except TimeoutException:
            fail(f"{what}: heading {self.heading()!r}, expected {text!r} (url {self.driver.current_url})")
            return False

    def wait_text(self, css, text, what):
        try:
            self.wait.until(lambda d: text in d.find_element(By.CSS_SELECTOR, css).text)
            return True
        except TimeoutException:
            got = self.driver.find_elements(By.CSS_SELECTOR, css)
            fail(f"{what}: {css} says {got[0].text if got else None!r}, expected {text!r}")
            return False

    def active(self, name):
        """Whether the focused element is the control called `name`."""
        return self.driver.switch_to.active_element.get_attribute("name") == name

    def type_login(self, login, password):
        """The login page, typed with the keyboard: login, Tab, password, Enter."""
        self.driver.get(self.base + "/login")
        self.wait_heading("Log in", "login page")
        self.wait.until(lambda d: self.active("login"))  # the login field has the focus: type at once
        self.driver.switch_to.active_element.send_keys(login, Keys.TAB)
        check(self.active("password"), "Tab from login goes to the password")
        self.driver.switch_to.active_element.send_keys(password, Keys.ENTER)

    def login(self, login, password):
        self.type_login(login, password)
        self.wait.until(lambda d: d.current_url.endswith("/requests"))
        self.wait.until(lambda d: d.find_elements(By.ID, "logout"))

    def console_errors(self):
        """The browser console's errors so far (CSP violations and script errors show here). The API's
        4xx answers the pages handle are logged by Chromium as failed loads: not errors here."""
        return [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE" and not re.search(
            r"/api/v1/\S* - Failed to load resource: the server responded with a status of 4", e["message"])]

    def logout(self):
        self.driver.find_element(By.ID, "logout").click()
        self.wait.until(lambda d: "/login" in d.current_url)
        self.wait_text("#status", "You are logged out", "after logout")



def finish(browser, server, data):
    """The end of a browser test, in its `finally:` (an exception in the steps still propagates): the
    browser closed, the server stopped (exit 0 expected), the data folder removed unless something
    failed (serve.err and the access log then tell what happened)."""
    browser.quit()
    rc = server.stop()
    check(rc == 0, f"polydaq serve exit {rc}")
    if not failures:
        shutil.rmtree(data)
