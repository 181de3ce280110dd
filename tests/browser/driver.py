"""Drives the chat page in headless Chromium (Playwright, Debian's chromium).

Run by tests/browser/test_chat_page.py as a plain (not gevent-patched)
process:  python driver.py SCENARIO URL_A [URL_B] [SCREENSHOT]

Prints ``step ...`` lines; where the test must act on the servers it prints
``wait ...`` and reads one line from stdin.  Ends with ``ok`` or raises.
"""
import sys

from playwright.sync_api import expect, sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
T = 10_000  # ms


def step(msg):
    print(f"step {msg}", flush=True)


def wait(msg):
    print(f"wait {msg}", flush=True)
    sys.stdin.readline()


def login(page, url, name, room="lobby"):
    page.goto(url)
    page.fill("#name", name)
    page.fill("#room", room)
    page.click("#login")
    expect(page.locator("#status-banner")).to_have_attribute("data-state", "connected", timeout=T)
    expect(page.locator(f'#online li.user[data-user="{name}"]')).to_be_visible(timeout=T)


def post(page, text):
    page.fill("#body", text)
    page.click("#send")


def sees_message(page, user, text):
    expect(page.locator(f'#messages li.message[data-user="{user}"]', has_text=text)) \
        .to_be_visible(timeout=T)


def two_users(browser, url_a, url_b, shot):
    a = browser.new_context().new_page()
    b = browser.new_context().new_page()
    login(a, url_a, "alice")
    login(b, url_b, "bob")
    step("both logged in")
    for page in (a, b):
        for user in ("alice", "bob"):
            expect(page.locator(f'#online li.user[data-user="{user}"]')).to_be_visible(timeout=T)
    post(a, "hello from alice")
    post(b, "hi alice, bob here")
    for page in (a, b):
        sees_message(page, "alice", "hello from alice")
        sees_message(page, "bob", "hi alice, bob here")
    step("messages exchanged")
    a.fill("#body", "   ")
    a.click("#send")
    expect(a.locator("#error")).to_have_text("empty message", timeout=T)
    step("bad message refused")
    if shot:
        a.screenshot(path=shot, full_page=True)
    return a, b


def scenario_chat(browser, url, shot):
    a, b = two_users(browser, url, url, shot)
    # a second tab of alice: one entry, two devices
    a2 = browser.new_context().new_page()
    login(a2, url, "alice")
    expect(b.locator('#online li.user[data-user="alice"]')).to_have_attribute("data-count", "2",
                                                                             timeout=T)
    a2.context.close()
    expect(b.locator('#online li.user[data-user="alice"]')).to_have_attribute("data-count", "1",
                                                                             timeout=T)
    step("tabs counted")
    b.context.close()
    expect(a.locator('#online li.user[data-user="bob"]')).to_have_count(0, timeout=T)
    step("leave seen")
    wait("restart the server")
    expect(a.locator("#status-banner")).to_have_attribute("data-state", "reconnecting", timeout=T)
    step("reconnecting shown")
    wait("server is back")
    expect(a.locator("#status-banner")).to_have_attribute("data-state", "connected",
                                                          timeout=20_000)
    expect(a.locator('#online li.user[data-user="alice"]')).to_be_visible(timeout=T)
    post(a, "back again")
    sees_message(a, "alice", "back again")
    step("rejoined after restart")


def scenario_cluster(browser, url_a, url_b, shot):
    a, b = two_users(browser, url_a, url_b, shot)
    wait("kill node b")
    expect(a.locator('#online li.user[data-user="bob"]')).to_have_count(0, timeout=T)
    step("bob left with his node")


def main():
    scenario, *rest = sys.argv[1:]
    shot = rest.pop() if rest and rest[-1].endswith(".png") else None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            if scenario == "chat":
                scenario_chat(browser, rest[0], shot)
            else:
                scenario_cluster(browser, rest[0], rest[1], shot)
        finally:
            browser.close()
    print("ok", flush=True)


if __name__ == "__main__":
    main()
