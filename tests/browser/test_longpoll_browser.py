"""LongPoll fallback in headless Chromium against a real chat node (an OS
process): websockets to the chat are made to fail, as behind a proxy that
refuses the upgrade, and two clients fall back to LongPoll by themselves
(``longPollFallbackMs``) and chat with a user on a working websocket:

* the official ``phoenix`` client (its browser build, phoenix.mjs) on a
  page of the chat's own origin, joining ``room:lobby`` with a token from
  ``/api/token``;
* the chat page itself (its own client.js).

The file is also the browser side: run as a plain (not gevent-patched)
process, ``python test_longpoll_browser.py URL``, it drives Chromium and
prints ``step ...`` lines, then ``ok``.
"""
import os
import shutil
import subprocess
import sys

if __name__ != "__main__":
    import pytest

    from tools.harness import ROOT, Node, free_port

    pytestmark = [
        pytest.mark.slow,
        pytest.mark.timeout(120),
        pytest.mark.skipif(not shutil.which("chromium"),
                           reason="needs chromium (make test installs it)"),
    ]

HERE = os.path.dirname(os.path.abspath(__file__))
PHOENIX_MJS = os.path.join(HERE, "..", "js", "node_modules", "phoenix", "priv", "static",
                           "phoenix.mjs")

# Every WebSocket the page opens to the chat's /socket goes to a path with
# no socket mounted, whose upgrade the server refuses: the browser reports
# an error and a close, as it does behind a proxy that blocks upgrades.
BLOCK_WEBSOCKETS = """(() => {
    const Real = window.WebSocket;
    function Blocked(url, protocols) {
        return new Real(url.replace("/socket/websocket", "/blocked/websocket"), protocols);
    }
    Blocked.prototype = Real.prototype;
    for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Blocked[k] = Real[k];
    window.WebSocket = Blocked;
})();"""

# A page of the chat's origin running the official client; what it sees
# lands in window.seen, its state in window.state.
OFFICIAL_PAGE = """<!doctype html><meta charset="utf-8"><title>official</title>
<script type="module">
import { Socket, LongPoll } from "/official/phoenix.mjs";
window.seen = [];
window.state = "starting";
const { token } = await (await fetch("/api/token?name=carol")).json();
const socket = new Socket("/socket", { params: { token }, longPollFallbackMs: 1000 });
socket.onOpen(() => {
  window.transport = socket.transport === LongPoll ? "LongPoll" : "WebSocket";
});
socket.connect();
const channel = socket.channel("room:lobby", {});
channel.on("new_msg", (m) => window.seen.push(`${m.user}: ${m.body}`));
channel.join().receive("ok", () => { window.state = "joined"; })
                .receive("error", (e) => { window.state = "refused " + JSON.stringify(e); });
window.say = (body) => new Promise((resolve) => {
  channel.push("new_msg", { body }).receive("ok", () => resolve("ok"))
         .receive("error", (e) => resolve(e.reason)).receive("timeout", () => resolve("timeout"));
});
</script>"""


# -- the pytest side --

def chat_node(port):
    n = Node("apps.chat", "--port", str(port), "--presence-period", "0.1", "--secret", "t",
             name="chat@lp")
    n.expect("chat running at", timeout=20)
    return n


def test_official_client_and_chat_page_fall_back_to_longpoll_and_chat_with_a_websocket_user():
    port = free_port()
    server = chat_node(port)
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), f"http://127.0.0.1:{port}/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        out, err = proc.communicate(timeout=100)
        assert proc.returncode == 0 and out.rstrip().endswith("ok"), out + err
        for step in ("official client on LongPoll", "official client chats with websocket user",
                     "chat page on LongPoll", "chat page chats with websocket user"):
            assert f"step {step}" in out, out
    finally:
        proc.kill()
        server.stop()


# -- the browser side --

def main(url):
    from playwright.sync_api import expect, sync_playwright

    sys.path.insert(0, HERE)
    from driver import ARGS, T, login, post, sees_message, step

    def blocked_page(browser):
        """A page whose websockets fail; it records its LongPoll requests."""
        ctx = browser.new_context()
        ctx.add_init_script(BLOCK_WEBSOCKETS)
        page = ctx.new_page()
        page.longpolls = []
        page.on("request", lambda r: "/socket/longpoll" in r.url and page.longpolls.append(r))
        page.sockets = []
        page.on("websocket", lambda ws: page.sockets.append(ws.url))
        return page

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            # the websocket user: the chat page with websockets working
            ws_user = browser.new_context().new_page()
            ws_user.longpolls = []
            ws_user.on("request", lambda r: "/socket/longpoll" in r.url
                       and ws_user.longpolls.append(r))
            login(ws_user, url, "alice")

            official = blocked_page(browser)
            official.route(url + "official.html", lambda route: route.fulfill(
                status=200, content_type="text/html", body=OFFICIAL_PAGE))
            official.route(url + "official/phoenix.mjs", lambda route: route.fulfill(
                status=200, content_type="text/javascript", path=PHOENIX_MJS))
            official.goto(url + "official.html")
            official.wait_for_function("window.state === 'joined'", timeout=T)
            assert official.evaluate("window.transport") == "LongPoll"
            assert official.longpolls, "no LongPoll request"
            assert any("/blocked/websocket" in u for u in official.sockets), official.sockets
            step("official client on LongPoll")
            assert official.evaluate("say('carol over longpoll')") == "ok"
            sees_message(ws_user, "carol", "carol over longpoll")
            post(ws_user, "alice to carol")
            official.wait_for_function(
                "window.seen.includes('alice: alice to carol')", timeout=T)
            step("official client chats with websocket user")

            page = blocked_page(browser)
            login(page, url, "dave")
            assert page.longpolls, "the chat page did not fall back to LongPoll"
            expect(page.locator('#online li.user[data-user="alice"]')).to_be_visible(timeout=T)
            expect(ws_user.locator('#online li.user[data-user="dave"]')).to_be_visible(timeout=T)
            step("chat page on LongPoll")
            post(page, "dave over longpoll")
            sees_message(ws_user, "dave", "dave over longpoll")
            official.wait_for_function(
                "window.seen.includes('dave: dave over longpoll')", timeout=T)
            post(ws_user, "alice to dave")
            sees_message(page, "alice", "alice to dave")
            assert not ws_user.longpolls, "the websocket user fell back too"
            step("chat page chats with websocket user")
        finally:
            browser.close()
    print("ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
