// The official `phoenix` client (npm, 1.8.x) against a beamish endpoint,
// used exactly as a web app uses it.  Run by tests/channels/test_official_client.py:
//
//   node scenarios.mjs SCENARIO PORT
//
// Each scenario prints progress lines (`step ...`) and ends with `ok` and
// exit code 0, or prints `fail ...` and exits 1.  A watchdog bounds every run.
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";

import { done, endPoint, fail, joined, port, reply, same, scenario, setup, step } from "./harness.mjs";

const connect = setup(WebSocket, 20000);

const scenarios = {
  async join_ok_and_error() {
    const socket = connect({ user: "ann" });
    const resp = await joined(socket.channel("room:lobby", { nick: "ann" }));
    if (!same(resp, { welcome: true, user: "ann" })) fail(`join reply ${JSON.stringify(resp)}`);
    step("joined");
    try {
      await joined(socket.channel("room:forbidden", {}));
      fail("forbidden join succeeded");
    } catch (err) {
      if (!same(err, { reason: "unauthorized" })) fail(`error reply ${JSON.stringify(err)}`);
    }
    done();
  },

  async push_reply_and_timeout() {
    const socket = connect({ user: "bo" });
    const ch = socket.channel("room:lobby", {});
    await joined(ch);
    const [status, resp] = await reply(ch.push("echo", { body: "hi" }));
    if (status !== "ok" || !same(resp, { echoed: { body: "hi" } })) fail(`echo ${status}`);
    step("echoed");
    const [s2] = await reply(ch.push("slow", { seconds: 1 }, 200));
    if (s2 !== "timeout") fail(`slow push got ${s2}`);
    done();
  },

  async broadcast_between_two_sockets() {
    const a = connect({ user: "a" }), b = connect({ user: "b" });
    const ca = a.channel("room:lobby", { nick: "a" }), cb = b.channel("room:lobby", { nick: "b" });
    const got = new Promise((resolve) => cb.on("shout", resolve));
    await joined(ca);
    await joined(cb);
    ca.push("shout", { body: "hello b" });
    const msg = await got;
    if (!same(msg, { from: "a", body: "hello b" })) fail(`shout ${JSON.stringify(msg)}`);
    done();
  },

  async leave() {
    const socket = connect({ user: "lee" });
    const ch = socket.channel("room:lobby", {});
    await joined(ch);
    const [status] = await reply(ch.leave());
    if (status !== "ok") fail(`leave ${status}`);
    step("left");
    // the server closed the channel: pushes on a left channel are refused locally
    if (ch.state !== "closed") fail(`channel state ${ch.state}`);
    done();
  },

  async heartbeat() {
    const socket = connect({ user: "hb" }, { heartbeatIntervalMs: 150 });
    let replies = 0;
    socket.onMessage((m) => { if (m.topic === "phoenix" && m.event === "phx_reply") replies++; });
    let closes = 0;
    socket.onClose(() => closes++);
    await new Promise((r) => setTimeout(r, 1000));
    if (replies < 4) fail(`only ${replies} heartbeat replies`);
    if (closes !== 0 || !socket.isConnected()) fail("connection dropped");
    done();
  },

  async channel_crash_then_rejoin() {
    const socket = connect({ user: "cr" });
    const ch = socket.channel("room:lobby", {});
    let joins = 0, errors = 0;
    const rejoined = new Promise((resolve) => {
      ch.join().receive("ok", () => { joins++; if (joins === 2) resolve(); });
    });
    ch.onError(() => errors++);
    await new Promise((r) => setTimeout(r, 200));
    ch.push("crash", {});
    await rejoined;
    if (errors < 1) fail("no phx_error seen");
    const [status] = await reply(ch.push("echo", { after: "rejoin" }));
    if (status !== "ok") fail(`push after rejoin ${status}`);
    done();
  },

  async server_restart_then_rejoin() {
    // The test stops the server after `joined` and starts it again.
    const socket = connect({ user: "sr" });
    const ch = socket.channel("room:lobby", {});
    let joins = 0, closes = 0;
    socket.onClose(() => { closes++; if (closes === 1) step("disconnected"); });
    ch.join().receive("ok", async () => {
      joins++;
      if (joins === 1) step("joined");
      if (joins === 2) {
        const [status] = await reply(ch.push("echo", { back: true }));
        if (status !== "ok") fail(`push after reconnect ${status}`);
        done();
      }
    });
  },

  async binary_payloads() {
    const socket = connect({ user: "bin" });
    const ch = socket.channel("room:lobby", {});
    await joined(ch);
    const data = new Uint8Array([0xde, 0xad, 0xbe, 0xef]).buffer;
    const [status, resp] = await reply(ch.push("binary_echo", data));
    if (status !== "ok" || !(resp instanceof ArrayBuffer)) fail(`binary reply ${status}`);
    if (!same([...new Uint8Array(resp)], [0xde, 0xad, 0xbe, 0xef])) fail("binary content");
    done();
  },

  async presence_sync() {
    // Against apps.chat: tokens from /api/token, presence on room:lobby.
    const token = async (name) => {
      const r = await fetch(`http://127.0.0.1:${port}/api/token?name=${name}`);
      return (await r.json()).token;
    };
    const alice = connect({ token: await token("alice") });
    const bob = connect({ token: await token("bob") });
    const ca = alice.channel("room:lobby", {});
    const presence = new Presence(ca);
    const events = [];
    presence.onJoin((key, current) => { if (!current) events.push(`join ${key}`); });
    presence.onLeave((key, current, left) => {
      if (current.metas.length === 0) events.push(`leave ${key}`);
    });
    const synced = (want) => new Promise((resolve) => {
      const check = () => {
        const users = presence.list((key, { metas }) => `${key}:${metas.length}`).sort();
        if (same(users, want)) resolve();
      };
      presence.onSync(check);
      check();
    });
    await joined(ca);
    await synced(["alice:1"]);
    step("alice alone");
    const cb = bob.channel("room:lobby", {});
    await joined(cb);
    await synced(["alice:1", "bob:1"]);
    step("both online");
    bob.disconnect();
    await synced(["alice:1"]);
    if (!events.includes("join bob") || !events.includes("leave bob")) {
      fail(`presence events ${events}`);
    }
    done();
  },
};

const run = scenarios[scenario];
if (!run) fail(`unknown scenario ${scenario}`);
run().catch((err) => fail(err && err.stack ? err.stack : String(err)));
