"""Drives the chat page in headless Chromium (Playwright, Debian's chromium).

Run by tests/browser/test_chat_page.py as a plain (not gevent-patched)
process:  python driver.py SCENARIO URL_A [URL_B] [SCREENSHOT ...]

Prints ``step ...`` lines; where the test must act on the servers it prints
``wait ...`` and reads one line from stdin.  Ends with ``ok`` or raises.
"""
import sys
import time

from playwright.sync_api import expect, sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
T = 10_000  # ms
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: WCAG 2.x AA: normal text needs a contrast ratio of at least 4.5:1.
AA_CONTRAST = 4.5


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
    ratio = contrast_of(a, "#status-banner")
    assert ratio >= AA_CONTRAST, f"reconnecting banner contrast {ratio:.2f}:1 < {AA_CONTRAST}:1"
    step(f"reconnecting shown, contrast {ratio:.2f}:1")
    wait("server is back")
    expect(a.locator("#status-banner")).to_have_attribute("data-state", "connected",
                                                          timeout=20_000)
    expect(a.locator('#online li.user[data-user="alice"]')).to_be_visible(timeout=T)
    post(a, "back again")
    sees_message(a, "alice", "back again")
    step("rejoined after restart")


def contrast_of(page, selector):
    """The WCAG contrast ratio of an element's text on its own background,
    both from the element's computed style (the background must be opaque)."""
    return page.evaluate("""(selector) => {
        const style = getComputedStyle(document.querySelector(selector));
        const rgba = (c) => c.match(/[\\d.]+/g).map(Number);
        const [fr, fg, fb] = rgba(style.color);
        const [br, bg, bb, ba = 1] = rgba(style.backgroundColor);
        if (ba !== 1) throw new Error(`background not opaque: ${style.backgroundColor}`);
        const lum = (r, g, b) => {
            const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
            return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
        };
        const [a, b] = [lum(fr, fg, fb), lum(br, bg, bb)];
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }""", selector)


def newest_fully_visible(page):
    """Whether the last message is wholly on screen: inside the message
    list's visible box, which is inside the viewport, with the input too."""
    return page.evaluate("""() => {
        const list = document.getElementById("messages").getBoundingClientRect();
        const last = document.querySelector("#messages li:last-child").getBoundingClientRect();
        const input = document.getElementById("body").getBoundingClientRect();
        return last.top >= list.top - 1 && last.bottom <= list.bottom + 1
            && list.bottom <= innerHeight && input.bottom <= innerHeight
            && list.right <= innerWidth && last.height > 0;
    }""")


def until_true(check, message, timeout=T / 1000):
    """Poll ``check`` until it is true; raise AssertionError(message) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def scenario_sizes(browser, url, shots):
    """A desktop and a phone in one room: the newest message stays in view
    on the phone; a burst over the rate limit marks each refused message."""
    desk_shot, phone_shot = shots if shots else (None, None)
    a = browser.new_context(viewport=DESKTOP).new_page()
    b = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    login(a, url, "alice")
    login(b, url, "bob")
    # a room with more people than a phone's screen can list
    others = browser.new_context(viewport=DESKTOP)
    for name in ("carol", "dave", "erin", "frank", "grace", "heidi"):
        login(others.new_page(), url, name)
    expect(b.locator("#online li.user")).to_have_count(8, timeout=T)
    for i in range(1, 11):
        post(a, f"message {i} of ten: long enough to wrap over several lines on a phone, "
                f"so that ten of them overflow the message list")
        sees_message(a, "alice", f"message {i} of ten")
        a.wait_for_timeout(250)   # within the rate limit (5 a second)
    last = b.locator('#messages li.message[data-user="alice"]', has_text="message 10 of ten")
    expect(last).to_be_in_viewport(timeout=T)
    until_true(lambda: newest_fully_visible(b), "phone: the newest message is not wholly on screen")
    step("phone follows the conversation")
    post(b, "bob on a phone: I can read it all")
    sees_message(a, "bob", "bob on a phone")
    expect(b.locator('#messages li.message[data-user="bob"]')).to_be_in_viewport(timeout=T)
    until_true(lambda: newest_fully_visible(b), "phone: bob's own message is not wholly on screen")
    step("phone posts")
    # the on-screen keyboard opens: the viewport gets shorter, the newest message stays
    b.set_viewport_size({"width": PHONE["width"], "height": 480})
    until_true(lambda: newest_fully_visible(b), "phone with keyboard: newest message hidden")
    b.set_viewport_size(PHONE)
    until_true(lambda: newest_fully_visible(b), "phone: newest message hidden after resize")
    step("phone keeps it in view while the keyboard opens")
    if desk_shot:
        a.screenshot(path=desk_shot)
        b.screenshot(path=phone_shot)
    # twelve at once: the burst allowance passes some, the rest are refused, each marked
    a.evaluate("""() => {
        const form = document.getElementById("post-form");
        for (let i = 1; i <= 12; i++) {
            document.getElementById("body").value = `burst ${i}`;
            form.requestSubmit();
        }
    }""")
    refused = a.locator('#messages li.outgoing[data-state="refused"]')
    expect(refused.first).to_be_visible(timeout=T)
    expect(a.locator('#messages li.outgoing[data-state="pending"]')).to_have_count(0, timeout=T)
    n_refused = refused.count()
    n_sent = a.locator("#messages li.message", has_text="burst").count()
    assert n_refused >= 5 and n_sent >= 1 and n_refused + n_sent == 12, (n_refused, n_sent)
    for i in range(n_refused):
        expect(refused.nth(i).locator(".note")).to_have_text("not sent: slow down")
    expect(refused.last).to_contain_text("burst 12")
    step(f"{n_refused} refused messages each marked")
    a.wait_for_timeout(1500)   # the bucket refills
    retried = refused.last
    retried.locator(".retry").click()
    sees_message(a, "alice", "burst 12")
    expect(a.locator("#messages li.outgoing", has_text="burst 12")).to_have_count(0, timeout=T)
    step("retry sends it")


def scenario_cluster(browser, url_a, url_b, shot):
    a, b = two_users(browser, url_a, url_b, shot)
    wait("kill node b")
    expect(a.locator('#online li.user[data-user="bob"]')).to_have_count(0, timeout=T)
    step("bob left with his node")


def main():
    scenario, *rest = sys.argv[1:]
    shots = [arg for arg in rest if arg.endswith(".png")]
    rest = [arg for arg in rest if not arg.endswith(".png")]
    shot = shots[0] if shots else None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            if scenario == "chat":
                scenario_chat(browser, rest[0], shot)
            elif scenario == "sizes":
                scenario_sizes(browser, rest[0], shots)
            else:
                scenario_cluster(browser, rest[0], rest[1], shot)
        finally:
            browser.close()
    print("ok", flush=True)


if __name__ == "__main__":
    main()
