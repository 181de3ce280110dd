// Unit tests of apps/chat's client module's LongPoll transport and its
// websocket-to-LongPoll fallback (`longPollFallbackMs`), with a fake
// WebSocket and a fake `fetch` playing the server (no network).
import { test } from "node:test";
import assert from "node:assert/strict";
import { LongPoll, Socket } from "../../apps/chat/static/js/client.js";

const settle = () => new Promise((r) => setTimeout(r, 5));

/** A fetch stand-in: records requests, answers them from `answer(req)`. */
function fakeServer(answer) {
  const requests = [];
  const fetch = async (url, { method, body, signal }) => {
    const req = { url, method, body };
    requests.push(req);
    const aborted = new Promise((_, reject) => signal?.addEventListener("abort", () => reject(new Error("aborted"))));
    const out = await Promise.race([answer(req), aborted]);
    return { text: async () => JSON.stringify(out) };
  };
  return { fetch, requests };
}

function withFetch(t, fetch) {
  const saved = globalThis.fetch;
  globalThis.fetch = fetch;
  t.after(() => { globalThis.fetch = saved; });
}

test("LongPoll opens a session, batches sends in one ndjson POST, delivers polled messages", async (t) => {
  let polls = 0;
  let posted;
  const post = new Promise((r) => { posted = r; });
  const server = fakeServer(async (req) => {
    if (req.method === "POST") { posted(); return { status: 200 }; }
    polls += 1;
    if (polls === 1) return { status: 410, token: "T", messages: [] };
    await post;   // the poll is held until the batch came
    if (polls === 2) return { status: 200, token: "T", messages: ['[null,null,"a","b",{}]'] };
    if (polls === 3) return { status: 410 };        // the session is gone
    return new Promise(() => {});
  });
  withFetch(t, server.fetch);
  const lp = new LongPoll("ws://127.0.0.1:4000/socket/websocket?token=u&vsn=2.0.0");
  const events = [];
  lp.onopen = () => { events.push("open"); lp.send("[1]"); lp.send("[2]"); };
  lp.onmessage = (e) => events.push(`msg ${e.data}`);
  lp.onclose = (e) => events.push(`close ${e.code}`);
  await settle();
  await settle();
  assert.equal(server.requests[0].url, "http://127.0.0.1:4000/socket/longpoll?token=u&vsn=2.0.0");
  assert.ok(server.requests[1].url.endsWith("&token=T"));
  const posts = server.requests.filter((r) => r.method === "POST");
  assert.deepEqual(posts.map((r) => r.body), ["[1]\n[2]"]);
  assert.deepEqual(events, ["open", 'msg [null,null,"a","b",{}]', "close 3410"]);
  assert.equal(lp.readyState, 3);
});

test("LongPoll: a 403 is a refusal (error, then close 1008)", async (t) => {
  withFetch(t, fakeServer(async () => ({ status: 403 })).fetch);
  const lp = new LongPoll("ws://h/socket/websocket?vsn=2.0.0");
  const events = [];
  lp.onerror = (s) => events.push(`error ${s}`);
  lp.onclose = (e) => events.push(`close ${e.code}`);
  await settle();
  assert.deepEqual(events, ["error 403", "close 1008"]);
});

function failingWebSocket(log) {
  return class {
    constructor(url) { this.url = url; this.readyState = 0; log.push(this); }
    close() { this.readyState = 3; }
  };
}

test("the socket falls back to LongPoll when the websocket fails before it opens", async (t) => {
  withFetch(t, fakeServer(async () => new Promise(() => {})).fetch);
  const made = [];
  const socket = new Socket("ws://h/socket", { transport: failingWebSocket(made), longPollFallbackMs: 1000 });
  socket.connect();
  made[0].onerror({});
  assert.equal(socket.transport, LongPoll);
  assert.ok(socket.conn instanceof LongPoll);
  socket.disconnect();
});

test("the socket falls back to LongPoll when the websocket is not open within longPollFallbackMs", async (t) => {
  withFetch(t, fakeServer(async () => new Promise(() => {})).fetch);
  const made = [];
  const socket = new Socket("ws://h/socket", { transport: failingWebSocket(made), longPollFallbackMs: 20 });
  socket.connect();
  assert.ok(!(socket.conn instanceof LongPoll));
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(socket.conn instanceof LongPoll);
  assert.equal(made[0].readyState, 3);
  socket.disconnect();
});

test("no fallback once a websocket has opened: a later drop reconnects over websockets", async (t) => {
  const made = [];
  const socket = new Socket("ws://h/socket", {
    transport: failingWebSocket(made), longPollFallbackMs: 1000, reconnectAfterMs: () => 1,
  });
  socket.connect();
  made[0].readyState = 1;
  made[0].onopen({});
  made[0].readyState = 3;
  made[0].onclose({ code: 1006 });
  await settle();
  assert.equal(made.length, 2);
  made[1].onerror({});
  assert.notEqual(socket.transport, LongPoll);
  socket.disconnect();
});
