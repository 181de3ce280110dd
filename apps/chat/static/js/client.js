// beamish's own small Phoenix Channels client (V2 JSON): Socket, Channel and
// Presence, speaking the same protocol as the official `phoenix` client.
// An ES module with no build step; importable under Node for unit tests
// (pass `transport` there: Node 20 has no global WebSocket).

const HEARTBEAT = 30000;
const RECONNECT = [10, 50, 100, 150, 200, 250, 500, 1000, 2000];
const REJOIN = [1000, 2000, 5000];
const backoff = (steps, last) => (tries) => steps[tries - 1] ?? last;

/** Encode/decode the V2 five-element array. */
export const encode = (m) => JSON.stringify([m.join_ref, m.ref, m.topic, m.event, m.payload]);
export function decode(text) {
  const [join_ref, ref, topic, event, payload] = JSON.parse(text);
  return { join_ref, ref, topic, event, payload };
}

/** A push awaiting its reply: `.receive(status, cb)` for "ok", "error", "timeout". */
class Push {
  constructor(channel, event, payload, timeout) {
    Object.assign(this, { channel, event, payload, timeout, hooks: [], reply: null, ref: null });
  }
  send() {
    const socket = this.channel.socket;
    this.ref = socket.makeRef();
    this.reply = null;
    this.channel.replies.set(this.ref, this);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.settle("timeout", {}), this.timeout);
    const joinRef = this.event === "phx_join" ? this.ref : this.channel.joinRef;
    socket.push({ join_ref: joinRef, ref: this.ref, topic: this.channel.topic,
                  event: this.event, payload: this.payload });
  }
  settle(status, response) {
    if (this.reply) return;
    clearTimeout(this.timer);
    this.channel.replies.delete(this.ref);
    this.reply = { status, response };
    this.hooks.filter((h) => h.status === status).forEach((h) => h.cb(response));
  }
  receive(status, cb) {
    if (this.reply && this.reply.status === status) cb(this.reply.response);
    this.hooks.push({ status, cb });
    return this;
  }
}

/** One topic on a socket.  States: closed, joining, joined, errored, leaving. */
export class Channel {
  constructor(topic, params, socket) {
    Object.assign(this, { topic, params, socket, state: "closed", bindings: [], joinRef: null,
                          replies: new Map(), rejoinTries: 0, joinPush: null });
  }
  on(event, cb) { this.bindings.push({ event, cb }); return cb; }
  off(event, cb) { this.bindings = this.bindings.filter((b) => b.event !== event || (cb && b.cb !== cb)); }
  trigger(event, payload) { this.bindings.filter((b) => b.event === event).forEach((b) => b.cb(payload)); }

  join(timeout = 10000) {
    this.joinPush = new Push(this, "phx_join", this.params, timeout);
    this.joinPush.receive("ok", () => { this.state = "joined"; this.rejoinTries = 0; })
      .receive("error", () => { this.state = "errored"; this.scheduleRejoin(); })
      .receive("timeout", () => { this.state = "errored"; this.scheduleRejoin(); });
    this.rejoin();
    return this.joinPush;
  }
  rejoin() {
    if (this.state === "leaving" || !this.socket.isConnected()) return;
    clearTimeout(this.rejoinTimer);
    this.state = "joining";
    this.joinRef = null;
    this.joinPush.send();
    this.joinRef = this.joinPush.ref;
  }
  scheduleRejoin() {
    clearTimeout(this.rejoinTimer);
    this.rejoinTries += 1;
    this.rejoinTimer = setTimeout(() => this.rejoin(), backoff(REJOIN, 10000)(this.rejoinTries));
  }
  push(event, payload, timeout = 10000) {
    const push = new Push(this, event, payload, timeout);
    if (this.state === "joined") push.send();
    else setTimeout(() => push.settle("error", { reason: "not joined" }), 0);
    return push;
  }
  leave() {
    this.state = "leaving";
    clearTimeout(this.rejoinTimer);
    const push = new Push(this, "phx_leave", {}, 10000);
    if (this.socket.isConnected()) push.send();
    push.settle("ok", {});
    this.socket.remove(this);
    return push;
  }
  /** Called by the socket with every frame for this topic. */
  handle(msg) {
    if (msg.join_ref && msg.join_ref !== this.joinRef) return;   // a stale instance
    if (msg.event === "phx_reply") {
      const push = this.replies.get(msg.ref);
      if (push) push.settle(msg.payload.status, msg.payload.response);
      return;
    }
    if (msg.event === "phx_error") { this.errored("channel_crash"); return; }
    if (msg.event === "phx_close") { this.state = "closed"; this.trigger("phx_close", {}); return; }
    this.trigger(msg.event, msg.payload);
  }
  errored(reason) {
    if (this.state === "leaving" || this.state === "closed") return;
    this.state = "errored";
    this.trigger("phx_error", { reason });
    if (this.socket.isConnected()) this.scheduleRejoin();
  }
}

/** A socket to `endPoint` ("/socket" or "ws://host/socket"). */
export class Socket {
  constructor(endPoint, opts = {}) {
    this.endPoint = endPoint;
    this.params = opts.params || {};
    this.transport = opts.transport || globalThis.WebSocket;
    this.heartbeatMs = opts.heartbeatIntervalMs || HEARTBEAT;
    this.reconnectAfter = opts.reconnectAfterMs || backoff(RECONNECT, 5000);
    this.channels = [];
    this.ref = 0;
    this.tries = 0;
    this.callbacks = { open: [], close: [], error: [] };
    this.conn = null;
    this.closedByUs = false;
  }
  onOpen(cb) { this.callbacks.open.push(cb); }
  onClose(cb) { this.callbacks.close.push(cb); }
  onError(cb) { this.callbacks.error.push(cb); }
  makeRef() { this.ref += 1; return String(this.ref); }
  isConnected() { return !!this.conn && this.conn.readyState === 1; }

  url() {
    let base = this.endPoint;
    if (!/^wss?:/.test(base) && globalThis.location) {
      const scheme = globalThis.location.protocol === "https:" ? "wss:" : "ws:";
      base = `${scheme}//${globalThis.location.host}${base}`;
    }
    const query = new URLSearchParams({ ...this.params, vsn: "2.0.0" });
    return `${base}/websocket?${query}`;
  }
  connect() {
    this.closedByUs = false;
    const conn = new this.transport(this.url());
    this.conn = conn;
    conn.onopen = () => {
      this.tries = 0;
      this.startHeartbeat();
      this.callbacks.open.forEach((cb) => cb());
      this.channels.filter((c) => c.state !== "leaving" && c.joinPush).forEach((c) => c.rejoin());
    };
    conn.onmessage = (e) => this.receive(decode(typeof e.data === "string" ? e.data : String(e.data)));
    conn.onerror = (e) => this.callbacks.error.forEach((cb) => cb(e));
    conn.onclose = (e) => this.closed(conn, e);
  }
  disconnect() {
    this.closedByUs = true;
    clearTimeout(this.reconnectTimer);
    if (this.conn) this.conn.close(1000);
  }
  closed(conn, event) {
    if (conn !== this.conn) return;
    clearInterval(this.heartbeatTimer);
    this.conn = null;
    this.channels.forEach((c) => c.errored("connection_closed"));
    this.callbacks.close.forEach((cb) => cb(event));
    if (this.closedByUs) return;
    this.tries += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectAfter(this.tries));
  }
  startHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.pendingHeartbeat = null;
    this.heartbeatTimer = setInterval(() => {
      if (this.pendingHeartbeat) {   // no reply since the last tick: the connection is dead
        const conn = this.conn;
        this.pendingHeartbeat = null;
        if (conn) { conn.close(1000, "heartbeat timeout"); this.closed(conn, { code: 1000 }); }
        return;
      }
      this.pendingHeartbeat = this.makeRef();
      this.push({ join_ref: null, ref: this.pendingHeartbeat, topic: "phoenix",
                  event: "heartbeat", payload: {} });
    }, this.heartbeatMs);
  }
  push(msg) { if (this.isConnected()) this.conn.send(encode(msg)); }
  receive(msg) {
    if (msg.topic === "phoenix" && msg.ref === this.pendingHeartbeat) this.pendingHeartbeat = null;
    this.channels.filter((c) => c.topic === msg.topic).forEach((c) => c.handle(msg));
  }
  channel(topic, params = {}) {
    const chan = new Channel(topic, params, this);
    this.channels.push(chan);
    return chan;
  }
  remove(chan) { this.channels = this.channels.filter((c) => c !== chan); }
}

/** Presence state helpers, with the semantics of the reference client. */
export class Presence {
  constructor(channel) {
    this.state = {};
    this.pending = [];
    this.joined = false;
    this.onJoinCb = () => {};
    this.onLeaveCb = () => {};
    this.onSyncCb = () => {};
    channel.on("presence_state", (s) => {
      this.state = Presence.syncState(this.state, s, this.onJoinCb, this.onLeaveCb);
      this.pending.forEach((d) => {
        this.state = Presence.syncDiff(this.state, d, this.onJoinCb, this.onLeaveCb);
      });
      this.pending = [];
      this.joined = true;
      this.onSyncCb();
    });
    channel.on("presence_diff", (d) => {
      if (!this.joined) { this.pending.push(d); return; }
      this.state = Presence.syncDiff(this.state, d, this.onJoinCb, this.onLeaveCb);
      this.onSyncCb();
    });
  }
  onJoin(cb) { this.onJoinCb = cb; }
  onLeave(cb) { this.onLeaveCb = cb; }
  onSync(cb) { this.onSyncCb = cb; }
  list(chooser) { return Presence.list(this.state, chooser); }

  static syncState(current, next, onJoin = () => {}, onLeave = () => {}) {
    const state = structuredClone(current);
    const joins = {}, leaves = {};
    for (const [key, presence] of Object.entries(state)) {
      if (!next[key]) leaves[key] = presence;
    }
    for (const [key, presence] of Object.entries(next)) {
      const old = state[key];
      if (!old) { joins[key] = presence; continue; }
      const newRefs = new Set(presence.metas.map((m) => m.phx_ref));
      const oldRefs = new Set(old.metas.map((m) => m.phx_ref));
      const joined = presence.metas.filter((m) => !oldRefs.has(m.phx_ref));
      const left = old.metas.filter((m) => !newRefs.has(m.phx_ref));
      if (joined.length) joins[key] = { ...presence, metas: joined };
      if (left.length) leaves[key] = { ...old, metas: left };
    }
    return Presence.syncDiff(state, { joins, leaves }, onJoin, onLeave);
  }

  static syncDiff(current, diff, onJoin = () => {}, onLeave = () => {}) {
    const state = structuredClone(current);
    for (const [key, presence] of Object.entries(diff.joins || {})) {
      const old = state[key];
      state[key] = structuredClone(presence);
      if (old) {
        const refs = new Set(state[key].metas.map((m) => m.phx_ref));
        state[key].metas.unshift(...old.metas.filter((m) => !refs.has(m.phx_ref)));
      }
      onJoin(key, old, presence);
    }
    for (const [key, presence] of Object.entries(diff.leaves || {})) {
      const current = state[key];
      if (!current) continue;
      const gone = new Set(presence.metas.map((m) => m.phx_ref));
      current.metas = current.metas.filter((m) => !gone.has(m.phx_ref));
      onLeave(key, current, presence);
      if (current.metas.length === 0) delete state[key];
    }
    return state;
  }

  static list(state, chooser = (key, presence) => presence) {
    return Object.entries(state).map(([key, presence]) => chooser(key, presence));
  }
}
