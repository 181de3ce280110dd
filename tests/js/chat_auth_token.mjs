// The official `phoenix` client (1.8.x) logs in to apps/chat with its
// `authToken` option, as a Phoenix 1.8 app does: the token travels in the
// WebSocket subprotocol header (`base64url.bearer.phx.<token>`), not in the
// URL.  Run by tests/js/test_chat_auth_token.py:
//
//   node chat_auth_token.mjs SCENARIO PORT
//
// Prints `step ...` lines and ends with `ok` (exit 0), or `fail ...` (exit 1).
import { Socket } from "phoenix";
import WebSocket from "ws";

const [scenario, port] = process.argv.slice(2);
const base = `127.0.0.1:${port}`;
const done = () => { console.log("ok"); process.exit(0); };
const fail = (msg) => { console.log(`fail ${msg}`); process.exit(1); };
const step = (msg) => console.log(`step ${msg}`);
setTimeout(() => fail(`watchdog: ${scenario} took too long`), 20000);

async function login(name) {
  const resp = await fetch(`http://${base}/api/token?name=${encodeURIComponent(name)}`);
  if (!resp.ok) fail(`token refused: ${resp.status}`);
  return (await resp.json()).token;
}

function socketWith(authToken) {
  // no params: the token is the only credential, and it is not in the URL
  const socket = new Socket(`ws://${base}/socket`, {
    transport: WebSocket, authToken, reconnectAfterMs: () => 200,
  });
  socket.connect();
  return socket;
}

const scenarios = {
  async accepted() {
    const socket = socketWith(await login("carol"));
    if (socket.endPointURL().includes("token")) fail(`token in the URL: ${socket.endPointURL()}`);
    socket.onError(() => fail("the server refused the connection"));
    const channel = socket.channel("room:lobby", {});
    channel.on("new_msg", (msg) => {
      if (msg.user !== "carol" || msg.body !== "hello by authToken") fail(`new_msg ${JSON.stringify(msg)}`);
      step("broadcast seen");
      done();
    });
    channel.join()
      .receive("ok", (resp) => {
        if (resp.user !== "carol") fail(`joined as ${JSON.stringify(resp.user)}`);
        step("joined as carol");
        channel.push("new_msg", { body: "hello by authToken" })
          .receive("error", (r) => fail(`push refused ${JSON.stringify(r)}`));
      })
      .receive("error", (r) => fail(`join refused ${JSON.stringify(r)}`));
  },

  async forged() {
    const token = await login("carol");
    const socket = socketWith(`${token.slice(0, -2)}xx`);
    let errors = 0;
    socket.onOpen(() => fail("a forged token opened the socket"));
    socket.onError(() => { errors += 1; if (errors === 2) { step("refused twice"); done(); } });
  },
};

const run = scenarios[scenario];
if (!run) fail(`unknown scenario ${scenario}`);
run().catch((e) => fail(e.stack ?? String(e)));
