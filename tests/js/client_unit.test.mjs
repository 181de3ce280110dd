// Unit tests of apps/chat's own client module (apps/chat/static/js/client.js):
// the wire format, backoff schedules, Presence sync, and the Socket/Channel
// state machines driven through an in-memory fake WebSocket and mocked timers
// (no network).  Run with `node --test` in tests/js.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Presence, Socket, decode, encode, isMember, list, reconnectAfterMs, rejoinAfterMs, syncDiff, syncState,
} from "../../apps/chat/static/js/client.js";

// Presence states have no prototype; compare them as plain JSON.
const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
const meta = (ref, extra = {}) => ({ phx_ref: ref, ...extra });

/** Records every onJoin/onLeave call with plain copies of its arguments. */
function recorder() {
  const calls = [];
  return {
    calls,
    onJoin: (key, current, joined) => calls.push(["join", key, plain(current), plain(joined)]),
    onLeave: (key, current, left) => calls.push(["leave", key, plain(current), plain(left)]),
  };
}

// ---- wire format ----------------------------------------------------------

test("encode writes the V2 five-element array, with null refs for broadcasts", () => {
  assert.equal(encode({ join_ref: "6", ref: "10", topic: "room:lobby", event: "new_msg", payload: { body: "hi" } }),
    '["6","10","room:lobby","new_msg",{"body":"hi"}]');
  assert.equal(encode({ ref: "13", topic: "phoenix", event: "heartbeat", payload: {} }),
    '[null,"13","phoenix","heartbeat",{}]');
});

test("decode reads the five elements and ignores extra ones", () => {
  assert.deepEqual(decode('["6","6","room:lobby","phx_reply",{"status":"ok","response":{}}]'),
    { join_ref: "6", ref: "6", topic: "room:lobby", event: "phx_reply", payload: { status: "ok", response: {} } });
  assert.deepEqual(decode('[null,null,"room:a","x",{},"extra"]'),
    { join_ref: null, ref: null, topic: "room:a", event: "x", payload: {} });
});

test("decode refuses text that is not a V2 frame", () => {
  assert.throws(() => decode("not json"), SyntaxError);
  assert.throws(() => decode('{"topic":"room:a"}'), TypeError);
  assert.throws(() => decode('[null,null,"room:a","x"]'), TypeError);
});

test("isMember drops frames of a stale join_ref and keeps null ones", () => {
  const frame = (join_ref, topic = "room:a") => ({ join_ref, ref: null, topic, event: "x", payload: {} });
  assert.equal(isMember("room:a", "8", frame("8")), true);
  assert.equal(isMember("room:a", "8", frame(null)), true);
  assert.equal(isMember("room:a", "8", frame("6")), false);
  assert.equal(isMember("room:a", "8", frame("8", "room:b")), false);
});

test("backoff schedules are the reference client's", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(reconnectAfterMs),
    [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000]);
  assert.deepEqual([1, 2, 3, 4, 5].map(rejoinAfterMs), [1000, 2000, 5000, 10000, 10000]);
});

// ---- Presence -------------------------------------------------------------

test("syncState from empty joins every key", () => {
  const r = recorder();
  const state = syncState({}, { u1: { metas: [meta("r1", { device: "web" })] } }, r.onJoin, r.onLeave);
  assert.deepEqual(plain(state), { u1: { metas: [{ phx_ref: "r1", device: "web" }] } });
  assert.deepEqual(r.calls, [["join", "u1", undefined, { metas: [{ phx_ref: "r1", device: "web" }] }]]);
});

test("syncDiff puts a second device after the first, and adds a new user", () => {
  const r = recorder();
  const state = syncDiff({ u1: { metas: [meta("r1")] } },
    { joins: { u1: { metas: [meta("r2", { device: "phone" })] }, u2: { metas: [meta("r3")] } }, leaves: {} },
    r.onJoin, r.onLeave);
  assert.deepEqual(plain(state),
    { u1: { metas: [{ phx_ref: "r1" }, { phx_ref: "r2", device: "phone" }] }, u2: { metas: [{ phx_ref: "r3" }] } });
  assert.deepEqual(r.calls, [
    ["join", "u1", { metas: [{ phx_ref: "r1" }] }, { metas: [{ phx_ref: "r2", device: "phone" }] }],
    ["join", "u2", undefined, { metas: [{ phx_ref: "r3" }] }],
  ]);
});

test("a meta update (join with phx_ref_prev plus leave) keeps the other metas first", () => {
  const r = recorder();
  const update = { phx_ref: "r4", phx_ref_prev: "r1", status: "away" };
  const state = syncDiff({ u1: { metas: [meta("r1"), meta("r2")] } },
    { joins: { u1: { metas: [update] } }, leaves: { u1: { metas: [meta("r1")] } } }, r.onJoin, r.onLeave);
  assert.deepEqual(plain(state), { u1: { metas: [{ phx_ref: "r2" }, update] } });
  assert.deepEqual(r.calls, [
    ["join", "u1", { metas: [{ phx_ref: "r1" }, { phx_ref: "r2" }] }, { metas: [update] }],
    ["leave", "u1", { metas: [{ phx_ref: "r2" }, update] }, { metas: [{ phx_ref: "r1" }] }],
  ]);
});

test("the leave of one of several metas keeps the key with the rest", () => {
  const r = recorder();
  const state = syncDiff({ carol: { metas: [meta("1"), meta("2"), meta("3")] } },
    { joins: {}, leaves: { carol: { metas: [meta("2")] } } }, r.onJoin, r.onLeave);
  assert.deepEqual(plain(state), { carol: { metas: [{ phx_ref: "1" }, { phx_ref: "3" }] } });
  assert.deepEqual(r.calls,
    [["leave", "carol", { metas: [{ phx_ref: "1" }, { phx_ref: "3" }] }, { metas: [{ phx_ref: "2" }] }]]);
  assert.deepEqual(list(state, (key, p) => [key, p.metas.length]), [["carol", 2]]);
});

test("the leave of the last meta removes the key, with an empty current", () => {
  const r = recorder();
  const state = syncDiff({ u1: { metas: [meta("r1")] }, u2: { metas: [meta("r3")] } },
    { joins: {}, leaves: { u2: { metas: [meta("r3")] }, nobody: { metas: [meta("r9")] } } }, r.onJoin, r.onLeave);
  assert.deepEqual(plain(state), { u1: { metas: [{ phx_ref: "r1" }] } });
  assert.deepEqual(r.calls, [["leave", "u2", { metas: [] }, { metas: [{ phx_ref: "r3" }] }]]);
});

test("syncState resync computes joins and leaves, per meta, against the held state", () => {
  const r = recorder();
  const held = { u1: { metas: [meta("r2"), meta("r4")] }, gone: { metas: [meta("r5")] } };
  const state = syncState(held, { u1: { metas: [meta("r4"), meta("r8")] }, u3: { metas: [meta("r9")] } },
    r.onJoin, r.onLeave);
  assert.deepEqual(plain(state),
    { u1: { metas: [{ phx_ref: "r4" }, { phx_ref: "r8" }] }, u3: { metas: [{ phx_ref: "r9" }] } });
  assert.deepEqual(r.calls, [
    ["join", "u1", { metas: [{ phx_ref: "r2" }, { phx_ref: "r4" }] }, { metas: [{ phx_ref: "r8" }] }],
    ["join", "u3", undefined, { metas: [{ phx_ref: "r9" }] }],
    // keys missing from the new state are collected first, then per-key metas
    ["leave", "gone", { metas: [] }, { metas: [{ phx_ref: "r5" }] }],
    ["leave", "u1", { metas: [{ phx_ref: "r4" }, { phx_ref: "r8" }] }, { metas: [{ phx_ref: "r2" }] }],
  ]);
});

test("syncState with an identical state calls nothing", () => {
  const r = recorder();
  const s = { u1: { metas: [meta("r1"), meta("r2")] } };
  assert.deepEqual(plain(syncState(s, s, r.onJoin, r.onLeave)), s);
  assert.deepEqual(r.calls, []);
});

test("syncState and syncDiff change neither argument", () => {
  const state = { erin: { metas: [meta("1")] } };
  const next = { erin: { metas: [meta("2")] } };
  const diff = { joins: { erin: { metas: [meta("3")] } }, leaves: { erin: { metas: [meta("1")] } } };
  const copies = [plain(state), plain(next), plain(diff)];
  syncState(state, next);
  syncDiff(state, diff);
  assert.deepEqual([state, next, diff], copies);
});

test("keys named like Object.prototype members are ordinary keys", () => {
  const incoming = JSON.parse('{"__proto__":{"metas":[{"phx_ref":"a"}]},"constructor":{"metas":[{"phx_ref":"b"}]}}');
  const r = recorder();
  let state = syncState({}, incoming, r.onJoin, r.onLeave);
  assert.deepEqual(list(state, (key, p) => [key, p.metas[0].phx_ref]), [["__proto__", "a"], ["constructor", "b"]]);
  assert.deepEqual(r.calls.map((c) => [c[0], c[1], c[2]]), [["join", "__proto__", undefined], ["join", "constructor", undefined]]);
  state = syncState(state, { toString: { metas: [meta("c")] } });
  assert.deepEqual(list(state, (key) => key), ["toString"]);
});

test("list returns the presences by default, one per key in order", () => {
  const state = syncDiff({}, { joins: { a: { metas: [meta("1")] }, b: { metas: [meta("2"), meta("3")] } } });
  assert.deepEqual(plain(list(state)), [{ metas: [{ phx_ref: "1" }] }, { metas: [{ phx_ref: "2" }, { phx_ref: "3" }] }]);
  assert.deepEqual(Presence.list(state, (key, p) => `${key}:${p.metas.length}`), ["a:1", "b:2"]);
});

test("Presence holds diffs until the presence_state of the current join", () => {
  const handlers = {};
  const channel = { joinRef: "6", on: (event, cb) => { handlers[event] = cb; } };
  const presence = new Presence(channel);
  const syncs = [];
  presence.onSync(() => syncs.push(presence.list((key, p) => `${key}:${p.metas.length}`)));
  handlers.presence_diff({ joins: { bob: { metas: [meta("b1")] } }, leaves: {} });
  assert.deepEqual(syncs, []);
  handlers.presence_state({ alice: { metas: [meta("a1")] } });
  assert.deepEqual(syncs, [["alice:1", "bob:1"]]);
  // a rejoin: diffs wait again for the new join's state, which drops bob
  channel.joinRef = "9";
  handlers.presence_diff({ joins: { carol: { metas: [meta("c1")] } }, leaves: {} });
  assert.equal(syncs.length, 1);
  const left = [];
  presence.onLeave((key, current) => left.push([key, current.metas.length]));
  handlers.presence_state({ alice: { metas: [meta("a1"), meta("a2")] } });
  assert.deepEqual(syncs[1], ["alice:2", "carol:1"]);
  assert.deepEqual(left, [["bob", 0]]);
});

// ---- Socket and Channel, over a fake WebSocket ----------------------------

/** A WebSocket stand-in: records what the client sends; the test plays the server. */
function fakeTransport() {
  const conns = [];
  class FakeWebSocket {
    constructor(url) { Object.assign(this, { url, readyState: 0, sent: [], closedWith: null }); conns.push(this); }
    send(text) { this.sent.push(JSON.parse(text)); }
    close(code, reason) { this.readyState = 3; this.closedWith = [code, reason]; }
    // the server's side
    open() { this.readyState = 1; this.onopen?.({}); }
    reply(frame, status = "ok", response = {}) {
      this.deliver([frame[0], frame[1], frame[2], "phx_reply", { status, response }]);
    }
    deliver(frame) { this.onmessage?.({ data: JSON.stringify(frame) }); }
    drop(code = 1006) { this.readyState = 3; this.onclose?.({ code }); }
    last(event) { return this.sent.filter((f) => f[3] === event).at(-1); }
  }
  return { FakeWebSocket, conns, current: () => conns.at(-1) };
}

function connected(t, opts = {}) {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const fake = fakeTransport();
  const socket = new Socket("ws://127.0.0.1:4000/socket", { transport: fake.FakeWebSocket, ...opts });
  socket.connect();
  fake.current().open();
  return { socket, fake, tick: (ms) => t.mock.timers.tick(ms) };
}

function joined(socket, fake, topic = "room:lobby", response = {}) {
  const channel = socket.channel(topic, {});
  const replies = [];
  channel.join().receive("ok", (r) => replies.push(r));
  fake.current().reply(fake.current().last("phx_join"), "ok", response);
  return { channel, replies };
}

test("connect uses endPoint/websocket with the params, then vsn", (t) => {
  const { socket, fake } = connected(t, { params: { token: "a b&c" } });
  assert.equal(fake.current().url, "ws://127.0.0.1:4000/socket/websocket?token=a+b%26c&vsn=2.0.0");
  assert.equal(socket.connectionState(), "open");
  assert.equal(socket.isConnected(), true);
});

test("join sends phx_join with join_ref = ref and fires ok with the response", (t) => {
  const { socket, fake } = connected(t);
  const { channel, replies } = joined(socket, fake, "room:lobby", { messages: [] });
  const [jr, ref, topic, event, payload] = fake.current().last("phx_join");
  assert.deepEqual([jr === ref, topic, event, payload], [true, "room:lobby", "phx_join", {}]);
  assert.equal(channel.state, "joined");
  assert.equal(channel.joinRef, jr);
  assert.deepEqual(replies, [{ messages: [] }]);
  assert.throws(() => channel.join(), /twice/);
});

test("pushes get their replies by ref, whatever the order, or time out", (t) => {
  const { socket, fake, tick } = connected(t);
  const { channel } = joined(socket, fake);
  const got = [];
  channel.push("new_msg", { body: "one" }).receive("ok", (r) => got.push(["one", r]));
  const a = fake.current().last("new_msg");
  channel.push("new_msg", { body: "" }).receive("error", (r) => got.push(["two", r]));
  const b = fake.current().last("new_msg");
  channel.push("new_msg", { body: "three" }, 500).receive("timeout", () => got.push(["three", "timeout"]));
  assert.deepEqual(a.slice(0, 1), [channel.joinRef]);
  fake.current().reply(b, "error", { reason: "empty message" });
  fake.current().reply(a, "ok", {});
  tick(500);
  assert.deepEqual(got, [["two", { reason: "empty message" }], ["one", {}], ["three", "timeout"]]);
});

test("pushes made before the join reply are sent after it, with the join_ref", (t) => {
  const { socket, fake } = connected(t);
  const channel = socket.channel("room:a", {});
  channel.join();
  channel.push("status", { status: "away" });
  assert.equal(fake.current().last("status"), undefined);
  fake.current().reply(fake.current().last("phx_join"));
  assert.deepEqual(fake.current().last("status").slice(0, 1), [channel.joinRef]);
  assert.throws(() => socket.channel("room:b").push("x", {}), /before joining/);
});

test("frames of a stale join_ref are dropped after a rejoin; broadcasts pass", (t) => {
  const { socket, fake, tick } = connected(t);
  const { channel } = joined(socket, fake);
  const oldRef = channel.joinRef;
  const seen = [];
  channel.on("new_msg", (p) => seen.push(p.body));
  const conn = fake.current();
  conn.deliver([oldRef, oldRef, "room:lobby", "phx_error", { reason: "channel_crash" }]);
  assert.equal(channel.state, "errored");
  tick(1000);                       // first rejoin after 1 s
  const newRef = channel.joinRef;
  assert.notEqual(newRef, oldRef);
  conn.deliver([oldRef, null, "room:lobby", "new_msg", { body: "stale" }]);
  conn.deliver([oldRef, oldRef, "room:lobby", "phx_close", {}]);   // e.g. the old instance's close
  conn.deliver([null, null, "room:lobby", "new_msg", { body: "broadcast" }]);
  conn.deliver([newRef, null, "room:lobby", "new_msg", { body: "current" }]);
  conn.deliver([null, null, "room:other", "new_msg", { body: "other topic" }]);
  assert.deepEqual(seen, ["broadcast", "current"]);
  assert.equal(channel.state, "joining");
  conn.reply(conn.last("phx_join"));
  assert.equal(channel.state, "joined");
});

test("rejoin after phx_error or join errors backs off 1 s, 2 s, 5 s, 10 s", (t) => {
  const { socket, fake, tick } = connected(t);
  const { channel } = joined(socket, fake);
  const conn = fake.current();
  const errors = [];
  channel.onError((reason) => errors.push(reason));
  conn.deliver([channel.joinRef, channel.joinRef, "room:lobby", "phx_error", {}]);
  assert.deepEqual(errors, [{}]);
  const joinsAt = [];
  for (const step of [1000, 2000, 5000, 10000, 10000]) {
    const before = conn.sent.length;
    tick(step - 1);
    assert.equal(conn.sent.length, before, `no rejoin before ${step} ms`);
    tick(1);
    joinsAt.push(conn.last("phx_join")[0]);
    conn.reply(conn.last("phx_join"), "error", { reason: "bad room name" });
  }
  assert.equal(new Set(joinsAt).size, 5);
  tick(10000);
  conn.reply(conn.last("phx_join"));
  assert.equal(channel.state, "joined");
  assert.equal(channel.rejoinTries, 0);
});

test("a join timeout sends phx_leave for that join, then rejoins", (t) => {
  const { socket, fake, tick } = connected(t, { timeout: 3000 });
  const channel = socket.channel("room:a", {});
  const timeouts = [];
  channel.join().receive("timeout", () => timeouts.push(channel.joinRef));
  const first = fake.current().last("phx_join");
  tick(3000);
  assert.deepEqual(timeouts, [first[0]]);
  assert.deepEqual(fake.current().last("phx_leave").slice(0, 1), [first[0]]);
  tick(1000);
  assert.notEqual(fake.current().last("phx_join")[0], first[0]);
});

test("heartbeat every interval after the reply; no reply by the next tick reconnects", (t) => {
  const { socket, fake, tick } = connected(t);
  const { channel } = joined(socket, fake);
  const conn = fake.current();
  const errors = [];
  channel.onError((reason) => errors.push(reason));
  tick(29999);
  assert.equal(conn.last("heartbeat"), undefined);
  tick(1);
  const hb = conn.last("heartbeat");
  assert.deepEqual([hb[0], hb[2], hb[4]], [null, "phoenix", {}]);
  tick(5000);
  conn.reply(hb);                   // answered: next one 30 s after the reply
  tick(29999);
  assert.equal(conn.last("heartbeat"), hb);
  tick(1);
  assert.notEqual(conn.last("heartbeat"), hb);
  tick(30000);                      // unanswered
  assert.deepEqual(conn.closedWith, [1000, "heartbeat timeout"]);
  assert.deepEqual(errors, [{ source: "transport", reason: "heartbeat_timeout" }]);
  assert.equal(fake.conns.length, 1);
  tick(10);                         // first reconnect delay
  assert.equal(fake.conns.length, 2);
  fake.current().open();            // errored channels rejoin at once, with a new join_ref
  const rejoin = fake.current().last("phx_join");
  assert.notEqual(rejoin[0], hb[1]);
  assert.equal(channel.joinRef, rejoin[0]);
});

test("reconnects back off 10, 50, 100, ... 2000 then 5000 ms, reset by an open", (t) => {
  const { socket, fake, tick } = connected(t);
  const closes = [];
  socket.onClose((e) => closes.push(e.code));
  fake.current().drop(1000);        // even a server close with 1000 brings us back
  const delays = [];
  for (let i = 0; i < 11; i++) {
    const n = fake.conns.length;
    let waited = 0;
    while (fake.conns.length === n) { tick(10); waited += 10; }
    delays.push(waited);
    fake.current().drop(1006);      // refused again
  }
  assert.deepEqual(delays, [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000]);
  assert.equal(closes[0], 1000);
  tick(5000);
  fake.current().open();
  fake.current().drop();
  tick(10);
  assert.equal(fake.current().readyState, 0, "tries were reset by the open");
});

test("disconnect does not reconnect; the next connect rejoins the channels", (t) => {
  const { socket, fake, tick } = connected(t);
  const { channel, replies } = joined(socket, fake);
  socket.disconnect();
  assert.equal(channel.state, "errored");
  tick(60000);
  assert.equal(fake.conns.length, 1);
  socket.connect();
  fake.current().open();
  fake.current().reply(fake.current().last("phx_join"), "ok", { again: true });
  assert.deepEqual(replies, [{}, { again: true }]);
});

test("leave sends phx_leave, resolves at once and never rejoins", (t) => {
  const { socket, fake, tick } = connected(t);
  const { channel } = joined(socket, fake);
  const events = [];
  channel.onClose(() => events.push("close"));
  channel.leave().receive("ok", () => events.push("ok"));
  assert.deepEqual(fake.current().last("phx_leave").slice(0, 1), [channel.joinRef]);
  assert.deepEqual(events, ["close", "ok"]);
  assert.equal(channel.state, "closed");
  fake.current().drop();
  tick(10);
  fake.current().open();
  assert.equal(fake.current().last("phx_join"), undefined);
});

test("a server phx_close closes the channel for good", (t) => {
  const { socket, fake, tick } = connected(t);
  const { channel } = joined(socket, fake);
  const closes = [];
  channel.onClose(() => closes.push(channel.state));
  fake.current().deliver([channel.joinRef, channel.joinRef, "room:lobby", "phx_close", {}]);
  assert.deepEqual(closes, ["closed"]);
  tick(20000);
  assert.equal(fake.current().sent.filter((f) => f[3] === "phx_join").length, 1);
});

test("a second Channel on a joined topic leaves the first one", (t) => {
  const { socket, fake } = connected(t);
  const { channel: first } = joined(socket, fake, "room:a");
  const second = socket.channel("room:a", {});
  second.join();
  const [leave, join] = fake.current().sent.slice(-2);
  assert.deepEqual([leave[0], leave[3], join[3]], [first.joinRef, "phx_leave", "phx_join"]);
  assert.equal(first.state, "closed");
});

test("off removes one binding or all of an event's; socket hooks too", (t) => {
  const { socket, fake } = connected(t);
  const { channel } = joined(socket, fake);
  const seen = [];
  const a = channel.on("ping", () => seen.push("a"));
  channel.on("ping", () => seen.push("b"));
  const frames = [];
  const hook = socket.onMessage((m) => frames.push(m.event));
  fake.current().deliver([null, null, "room:lobby", "ping", {}]);
  channel.off("ping", a);
  socket.off([hook]);
  fake.current().deliver([null, null, "room:lobby", "ping", {}]);
  channel.off("ping");
  fake.current().deliver([null, null, "room:lobby", "ping", {}]);
  assert.deepEqual(seen, ["a", "b", "b"]);
  assert.deepEqual(frames, ["ping"]);
});
