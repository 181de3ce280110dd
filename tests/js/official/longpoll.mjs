// The official `phoenix` client (npm, 1.8.x) over its LongPoll transport
// against a beamish endpoint with `longpoll` on.  Run by
// tests/channels/test_longpoll_official.py:
//
//   node longpoll.mjs SCENARIO PORT
//
// Each scenario prints progress lines (`step ...`) and ends with `ok` and
// exit code 0, or prints `fail ...` and exits 1.  A watchdog bounds every run.
import { LongPoll, Presence, Socket } from "phoenix";
import WebSocket from "ws";

import { done, endPoint, fail, joined, port, reply, same, scenario, setup, step } from "./harness.mjs";

const connect = setup(LongPoll, 25000);

const scenarios = {
  async join_and_push_reply() {
    const socket = connect({ user: "ann" });
    const ch = socket.channel("room:lobby", { nick: "ann" });
    const resp = await joined(ch);
    if (!same(resp, { welcome: true, user: "ann" })) fail(`join reply ${JSON.stringify(resp)}`);
    if (socket.transportName(socket.transport) !== "LongPoll") fail("not on LongPoll");
    step("joined");
    try {
      await joined(socket.channel("room:forbidden", {}));
      fail("forbidden join succeeded");
    } catch (err) {
      if (!same(err, { reason: "unauthorized" })) fail(`error reply ${JSON.stringify(err)}`);
    }
    // several pushes in one tick go in one POST batch; replies come in order
    const replies = await Promise.all([1, 2, 3].map((n) => reply(ch.push("echo", { n }))));
    if (!same(replies.map(([s, r]) => [s, r.echoed.n]), [["ok", 1], ["ok", 2], ["ok", 3]])) {
      fail(`echo replies ${JSON.stringify(replies)}`);
    }
    done();
  },

  async broadcast_with_a_websocket_client() {
    const lp = connect({ user: "lp" });
    const ws = connect({ user: "ws" }, { transport: WebSocket });
    const clp = lp.channel("room:lobby", { nick: "lp" });
    const cws = ws.channel("room:lobby", { nick: "ws" });
    const toWs = new Promise((resolve) => cws.on("shout", (m) => m.from === "lp" && resolve(m)));
    const toLp = new Promise((resolve) => clp.on("shout", (m) => m.from === "ws" && resolve(m)));
    await joined(clp);
    await joined(cws);
    clp.push("shout", { body: "from longpoll" });
    if (!same(await toWs, { from: "lp", body: "from longpoll" })) fail("ws did not get it");
    step("longpoll to websocket");
    cws.push("shout", { body: "from websocket" });
    if (!same(await toLp, { from: "ws", body: "from websocket" })) fail("lp did not get it");
    done();
  },

  async leave() {
    const socket = connect({ user: "lee" });
    const ch = socket.channel("room:lobby", {});
    await joined(ch);
    const [status] = await reply(ch.leave());
    if (status !== "ok") fail(`leave ${status}`);
    if (ch.state !== "closed") fail(`channel state ${ch.state}`);
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

  async presence_sync() {
    // Against apps.chat: alice on LongPoll, bob on a websocket.
    const token = async (name) => {
      const r = await fetch(`http://127.0.0.1:${port}/api/token?name=${name}`);
      return (await r.json()).token;
    };
    const alice = connect({ token: await token("alice") });
    const bob = connect({ token: await token("bob") }, { transport: WebSocket });
    const ca = alice.channel("room:lobby", {});
    const presence = new Presence(ca);
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
    done();
  },
};

const run = scenarios[scenario];
if (!run) fail(`unknown scenario ${scenario}`);
run().catch((err) => fail(err && err.stack ? err.stack : String(err)));
