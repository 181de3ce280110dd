// beamish's own small client for Phoenix Channels (the V2 JSON protocol):
// Socket, Channel, Push and Presence.  An ES module served as a static file,
// no build step.  It touches no `window`/`document`, so Node can import it
// (pass `transport` there: Node 20 has no global WebSocket).
//
// Theory of operation.  A Socket owns one WebSocket at a time.  Once open it
// sends a `heartbeat` on topic "phoenix" one interval later, and the next one
// an interval after each reply; a heartbeat still unanswered one interval on
// means the connection is dead: drop it and reconnect.  Any close the socket
// did not ask for (`disconnect()`) schedules a reconnect with backoff; the
// tries reset when a connection opens.
//
// A Channel is one topic.  States: closed -> joining -> joined; errored
// (waiting to rejoin); leaving -> closed.  Every (re)join sends `phx_join`
// with a fresh ref, which becomes the channel's join_ref; frames carrying
// another non-null join_ref belong to an earlier instance and are dropped.
// A join error, a join timeout or a server `phx_error` errors the channel and
// schedules a rejoin with backoff while the socket is up; when the socket
// dies every channel errors, and when it opens again errored channels rejoin
// at once.  `phx_close` (a normal end on the server) closes the channel for
// good, as `leave()` does.

/** The protocol version, sent as the `vsn` query parameter. */
export const VSN = "2.0.0";

/** A backoff schedule: `steps[tries - 1]` ms, then `after` ms. @returns {(tries: number) => number} */
export const backoff = (steps, after) => (tries) => steps[tries - 1] ?? after;
/** Socket reconnect delays (ms), as in the reference client. */
export const reconnectAfterMs = backoff([10, 50, 100, 150, 200, 250, 500, 1000, 2000], 5000);
/** Channel rejoin delays (ms), as in the reference client. */
export const rejoinAfterMs = backoff([1000, 2000, 5000], 10000);

const OPEN = 1;   // WebSocket.OPEN
const noop = () => {};

/** @typedef {{join_ref: ?string, ref: ?string, topic: string, event: string, payload: any}} Message */

/** Encode a message as the V2 text frame `[join_ref, ref, topic, event, payload]`. @returns {string} */
export function encode({ join_ref = null, ref = null, topic, event, payload }) {
  return JSON.stringify([join_ref, ref, topic, event, payload]);
}

/**
 * Decode a V2 text frame (elements after the fifth are ignored).
 * @returns {Message}
 * @throws {SyntaxError|TypeError} when it is not JSON, or not an array of five or more
 */
export function decode(text) {
  const frame = JSON.parse(text);
  if (!Array.isArray(frame) || frame.length < 5) throw new TypeError(`not a V2 frame: ${String(text).slice(0, 80)}`);
  const [join_ref, ref, topic, event, payload] = frame;
  return { join_ref, ref, topic, event, payload };
}

/** Whether `msg` is for the current instance of a channel: its topic, and a null or current join_ref. */
export function isMember(topic, joinRef, msg) {
  return msg.topic === topic && (msg.join_ref == null || msg.join_ref === joinRef);
}

/**
 * A message to the server awaiting its reply.  `receive(status, cb)` chains,
 * and fires at once if that reply already came; statuses are the server's
 * ("ok", "error", ...) plus the local "timeout".
 */
export class Push {
  constructor(channel, event, payload, timeout) {
    Object.assign(this, { channel, event, payload, timeout, ref: null, received: null, hooks: [], timer: null });
  }

  /** Take a fresh ref and start waiting for the reply (and the timeout). */
  start() {
    this.reset();
    this.ref = this.channel.socket.makeRef();
    this.channel.replies.set(this.ref, this);
    this.timer = setTimeout(() => this.settle("timeout", {}), this.timeout);
  }

  /** Write the frame with the channel's current join_ref, unless already settled. */
  write() {
    if (this.received) return;
    const { socket, joinRef, topic } = this.channel;
    socket.push({ join_ref: joinRef, ref: this.ref, topic, event: this.event, payload: this.payload });
  }

  /** Stop waiting and forget any reply; the hooks stay for the next send. */
  reset() {
    clearTimeout(this.timer);
    if (this.ref !== null) this.channel.replies.delete(this.ref);
    this.received = null;
  }

  /** Record the reply (the first one only) and run the hooks for its status. */
  settle(status, response) {
    if (this.received) return;
    clearTimeout(this.timer);
    this.channel.replies.delete(this.ref);
    this.received = { status, response };
    this.hooks.filter((h) => h.status === status).forEach((h) => h.callback(response));
  }

  /** @param {string} status @param {(response: any) => void} callback @returns {Push} this */
  receive(status, callback) {
    if (this.received?.status === status) callback(this.received.response);
    this.hooks.push({ status, callback });
    return this;
  }
}

/** One topic on a Socket; make it with `socket.channel(topic, params)`. */
export class Channel {
  constructor(topic, params, socket) {
    Object.assign(this, { topic, params, socket, state: "closed", joinRef: null, joinedOnce: false });
    this.bindings = [];   // {event, ref, callback}
    this.bindingRef = this.rejoinTries = 0;
    this.rejoinTimer = null;
    this.replies = new Map();   // ref -> Push awaiting its phx_reply
    this.buffer = [];           // pushes made while not joined, sent on the next join
    this.joinPush = new Push(this, "phx_join", params, socket.timeout)
      .receive("ok", () => {
        this.state = "joined";
        this.rejoinTries = 0;
        this.buffer.splice(0).forEach((push) => push.write());
      })
      .receive("error", () => { this.state = "errored"; this.scheduleRejoin(); })
      .receive("timeout", () => {
        // The server may join us yet: tell it to drop that instance.
        socket.push({ join_ref: this.joinRef, ref: socket.makeRef(), topic, event: "phx_leave", payload: {} });
        this.state = "errored";
        this.scheduleRejoin();
      });
  }

  /**
   * Join the topic, once per Channel object.  The returned Push's hooks run
   * on every later rejoin too, so an "ok" hook sees each join reply.
   * @throws {Error} when called twice
   */
  join(timeout = this.socket.timeout) {
    if (this.joinedOnce) throw new Error(`tried to join ${this.topic} twice; make a new Channel`);
    this.joinedOnce = true;
    this.joinPush.timeout = timeout;
    this.rejoin();
    return this.joinPush;
  }

  /** Send a new phx_join now if the socket is up; otherwise wait, errored, for it to open. */
  rejoin() {
    if (this.state === "leaving" || !this.socket.channels.includes(this)) return;
    clearTimeout(this.rejoinTimer);
    if (!this.socket.isConnected()) { this.state = "errored"; return; }
    this.socket.leaveOpenTopic(this);
    this.state = "joining";
    this.joinPush.start();
    this.joinRef = this.joinPush.ref;
    this.joinPush.write();
  }

  scheduleRejoin() {
    clearTimeout(this.rejoinTimer);
    if (!this.socket.isConnected()) return;   // the socket's next open rejoins us
    this.rejoinTries += 1;
    this.rejoinTimer = setTimeout(() => {
      if (this.state === "errored" && this.socket.isConnected()) this.rejoin();
    }, this.socket.rejoinAfterMs(this.rejoinTries));
  }

  /**
   * Push an event: sent now if joined, else buffered until the next join.
   * @returns {Push} whose "timeout" fires after `timeout` ms without a reply
   * @throws {Error} before `join()`
   */
  push(event, payload = {}, timeout = this.socket.timeout) {
    if (!this.joinedOnce) throw new Error(`tried to push "${event}" to ${this.topic} before joining`);
    const push = new Push(this, event, payload, timeout);
    push.start();
    if (this.state === "joined" && this.socket.isConnected()) push.write();
    else this.buffer.push(push);
    return push;
  }

  /** Subscribe to an event on this topic; `callback(payload, ref, joinRef)`. @returns {number} a ref for `off` */
  on(event, callback) {
    const ref = ++this.bindingRef;
    this.bindings.push({ event, ref, callback });
    return ref;
  }

  /** Unsubscribe one binding by its ref or, without a ref, all of the event's. */
  off(event, ref) {
    this.bindings = this.bindings.filter((b) => b.event !== event || (ref !== undefined && b.ref !== ref));
  }

  /** `callback(reason)` each time the channel errors (server crash or dead socket). */
  onError(callback) { return this.on("phx_error", callback); }
  /** `callback()` when the channel closes for good. */
  onClose(callback) { return this.on("phx_close", callback); }

  trigger(event, payload, ref = null, joinRef = null) {
    this.bindings.filter((b) => b.event === event).forEach((b) => b.callback(payload, ref, joinRef));
  }

  /** Leave: send phx_leave, resolve "ok" at once (the server's answer is not awaited) and close. */
  leave(timeout = this.socket.timeout) {
    clearTimeout(this.rejoinTimer);
    this.joinPush.reset();
    this.state = "leaving";
    const push = new Push(this, "phx_leave", {}, timeout).receive("ok", () => this.closed());
    push.start();
    push.write();
    push.settle("ok", {});
    return push;
  }

  closed() {
    clearTimeout(this.rejoinTimer);
    this.joinPush.reset();
    this.state = "closed";
    this.socket.remove(this);
    this.trigger("phx_close", {});
  }

  /** This instance is gone (a server phx_error, or a dead socket): rejoin later. */
  errored(reason) {
    if (["leaving", "closed", "errored"].includes(this.state)) return;
    if (this.state === "joining") this.joinPush.reset();
    this.state = "errored";
    this.trigger("phx_error", reason);
    this.scheduleRejoin();
  }

  /** Called by the socket with every frame on this topic. */
  handle(msg) {
    if (!isMember(this.topic, this.joinRef, msg)) return;
    switch (msg.event) {
      case "phx_reply": this.replies.get(msg.ref)?.settle(msg.payload?.status, msg.payload?.response); break;
      case "phx_error": this.errored(msg.payload); break;
      case "phx_close": if (this.state !== "leaving") this.closed(); break;
      default: this.trigger(msg.event, msg.payload, msg.ref, msg.join_ref);
    }
  }
}

/**
 * The LongPoll transport, for networks that block websockets: the server's
 * `<endPoint>/longpoll`, behind a WebSocket's interface (`readyState`,
 * `send`, `close`, `onopen`/`onmessage`/`onerror`/`onclose`) so the Socket
 * uses it unchanged.  A GET opens the session (status 410 and a token),
 * then GETs poll (200 messages, 204 nothing yet); sends of one tick go in
 * one ndjson POST.  A 410 once open means the session is gone: closed,
 * so the Socket reconnects and rejoins; 403 is a refusal.
 */
export class LongPoll {
  constructor(url) {
    this.url = url.replace(/^ws(s?):/, "http$1:").replace("/websocket?", "/longpoll?");
    Object.assign(this, { token: null, readyState: 0, timeout: 20000, queue: [], posting: false,
                          onopen: noop, onmessage: noop, onerror: noop, onclose: noop });
    this.requests = new Set();
    setTimeout(() => this.poll(), 0);   // the caller sets the callbacks first
  }

  async request(method, body) {
    const ctrl = new AbortController();
    this.requests.add(ctrl);
    const timer = setTimeout(() => ctrl.abort(), this.timeout);
    const url = this.token ? `${this.url}&token=${encodeURIComponent(this.token)}` : this.url;
    const headers = method === "POST" ? { "Content-Type": "application/x-ndjson" } : {};
    try {
      const resp = await fetch(url, { method, body, headers, signal: ctrl.signal });
      return JSON.parse(await resp.text());
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
      this.requests.delete(ctrl);
    }
  }

  async poll() {
    while (this.readyState <= OPEN) {
      const resp = await this.request("GET");
      if (this.readyState > OPEN) return;
      const status = resp?.status ?? 0;
      if (status === 410 && this.token) return this.end(3410, "session_gone");
      if (resp?.token) this.token = resp.token;
      if (status === 410) {
        this.readyState = OPEN;
        this.onopen({});
      } else if (status === 200) {
        for (const data of resp.messages) if (this.readyState === OPEN) this.onmessage({ data });
      } else if (status === 403) {
        this.onerror(403);
        return this.end(1008, "forbidden");
      } else if (status !== 204) {
        this.onerror(status);
        return this.end(1011, "internal server error");
      }
    }
  }

  send(text) {
    this.queue.push(text);
    if (!this.posting) setTimeout(() => this.flush(), 0);
    this.posting = true;
  }

  async flush() {
    while (this.queue.length && this.readyState === OPEN) {
      const resp = await this.request("POST", this.queue.splice(0, 100).join("\n"));
      if (resp?.status !== 200) return this.end(1011, "post failed");
    }
    this.posting = false;
  }

  close(code = 1000, reason = "") { this.end(code, reason, true); }

  end(code, reason, wasClean = false) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.queue = [];
    for (const ctrl of this.requests) ctrl.abort();
    this.onclose({ code, reason, wasClean });
  }
}

/**
 * A connection to a Phoenix-style socket endpoint.
 *
 *     const socket = new Socket("/socket", {params: {token}});
 *     socket.connect();   // ws://host/socket/websocket?token=...&vsn=2.0.0
 *
 * Options: `params` (an object, or a function called at each connect),
 * `transport` (default `globalThis.WebSocket`), `timeout` (10000 ms),
 * `heartbeatIntervalMs` (30000), `reconnectAfterMs(tries)`,
 * `rejoinAfterMs(tries)`, `logger(kind, msg, data)`, `longPollFallbackMs` (as the
 * official client's: a websocket not open within that long, or failing
 * before it opens, and the socket switches to LongPoll for good).
 */
export class Socket {
  constructor(endPoint, opts = {}) {
    Object.assign(this, { endPoint, params: {}, transport: globalThis.WebSocket, timeout: 10000,
                          heartbeatIntervalMs: 30000, reconnectAfterMs, rejoinAfterMs, logger: null,
                          longPollFallbackMs: null }, opts);
    this.fallbackTimer = null;
    this.wsOpened = false;   // a websocket opened once: never fall back
    this.conn = null;
    this.channels = [];
    this.hooks = { open: [], close: [], error: [], message: [] };
    this.refCounter = 0;
    this.tries = 0;   // connection attempts since the last open
    this.reconnectTimer = this.heartbeatTimer = this.pendingHeartbeat = null;
    this.closeWasClean = false;
  }

  /** `endPoint/websocket?<params>&vsn=2.0.0`, made absolute against `location` in a page. */
  endPointURL() {
    const query = new URLSearchParams(typeof this.params === "function" ? this.params() : this.params);
    query.set("vsn", VSN);
    const url = `${this.endPoint}/websocket?${query}`;
    const loc = globalThis.location;
    if (/^wss?:\/\//.test(url) || !loc) return url;
    return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}${url.startsWith("/") ? "" : "/"}${url}`;
  }

  /** Open the connection (a no-op while one is open or opening). */
  connect() {
    if (this.conn) return;
    clearTimeout(this.reconnectTimer);
    this.closeWasClean = false;
    const conn = (this.conn = new this.transport(this.endPointURL()));
    conn.binaryType = "arraybuffer";
    // A dropped connection may still fire events: only the current one counts.
    // only until a websocket first opens: later drops are not a blocked network
    const trying = this.longPollFallbackMs && this.transport !== LongPoll && !this.wsOpened;
    if (trying) this.fallbackTimer = setTimeout(() => this.fallBack(conn), this.longPollFallbackMs);
    conn.onopen = () => {
      if (this.conn !== conn) return;
      clearTimeout(this.fallbackTimer);
      if (this.transport !== LongPoll) this.wsOpened = true;
      this.opened();
    };
    conn.onmessage = (e) => { if (this.conn === conn) this.received(e.data); };
    conn.onerror = (e) => {
      if (this.conn !== conn) return;
      if (trying && !this.wsOpened) return this.fallBack(conn);
      this.emit("error", e);
    };
    conn.onclose = (e) => {
      if (this.conn !== conn) return;
      if (trying && !this.wsOpened && !this.closeWasClean) return this.fallBack(conn);
      this.dropped(e, "connection_closed");
    };
  }

  /** The websocket did not open in time or failed: use LongPoll from now on. */
  fallBack(conn) {
    if (this.conn !== conn) return;
    clearTimeout(this.fallbackTimer);
    this.log("transport", "falling back to LongPoll");
    this.transport = LongPoll;
    this.conn = null;
    conn.onopen = conn.onmessage = conn.onerror = conn.onclose = noop;
    try { conn.close(); } catch { /* never opened */ }
    this.connect();
  }

  /** Close with no reconnect (until `connect()`); channels error, and rejoin on the next open. */
  disconnect(callback, code = 1000, reason = "") {
    this.closeWasClean = true;
    clearTimeout(this.reconnectTimer);
    const conn = this.conn;
    if (conn) {
      this.dropped({ code, reason, wasClean: true }, "disconnected");
      conn.close(code, reason);
    }
    callback?.();
  }

  opened() {
    this.log("transport", `connected to ${this.endPoint}`);
    this.tries = 0;
    this.scheduleHeartbeat();
    this.emit("open");
    for (const chan of [...this.channels]) {
      chan.rejoinTries = 0;
      if (chan.state === "errored") chan.rejoin();
    }
  }

  /** The connection is gone, whoever ended it: error the channels and maybe reconnect. */
  dropped(event, reason) {
    this.log("transport", `closed: ${reason}`, event);
    this.conn = null;
    clearTimeout(this.heartbeatTimer);
    this.pendingHeartbeat = null;
    for (const chan of [...this.channels]) chan.errored({ source: "transport", reason });
    if (!this.closeWasClean) {
      this.tries += 1;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectAfterMs(this.tries));
    }
    this.emit("close", event);
  }

  scheduleHeartbeat() {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => this.sendHeartbeat(), this.heartbeatIntervalMs);
  }

  sendHeartbeat() {
    if (!this.isConnected()) return;
    this.pendingHeartbeat = this.makeRef();
    this.push({ join_ref: null, ref: this.pendingHeartbeat, topic: "phoenix", event: "heartbeat", payload: {} });
    this.heartbeatTimer = setTimeout(() => {   // no reply by the next tick: the connection is dead
      const conn = this.conn;
      this.dropped({ code: 1000, reason: "heartbeat timeout", wasClean: false }, "heartbeat_timeout");
      conn.close(1000, "heartbeat timeout");
    }, this.heartbeatIntervalMs);
  }

  received(data) {
    if (typeof data !== "string") return this.log("receive", "binary frame ignored");
    let msg;
    try { msg = decode(data); } catch (e) { return this.log("receive", `bad frame: ${e.message}`); }
    this.log("receive", `${msg.topic} ${msg.event}`, msg);
    if (msg.topic === "phoenix" && msg.ref !== null && msg.ref === this.pendingHeartbeat) {
      this.pendingHeartbeat = null;
      this.scheduleHeartbeat();
    }
    this.emit("message", msg);
    for (const chan of [...this.channels]) if (chan.topic === msg.topic) chan.handle(msg);
  }

  /** Send a message now; false (and nothing sent) when not connected. */
  push(msg) {
    if (!this.isConnected()) return false;
    this.log("push", `${msg.topic} ${msg.event}`, msg);
    this.conn.send(encode(msg));
    return true;
  }

  /** A new Channel for `topic`, not joined yet. */
  channel(topic, params = {}) {
    const chan = new Channel(topic, params, this);
    this.channels.push(chan);
    return chan;
  }

  remove(chan) { this.channels = this.channels.filter((c) => c !== chan); }

  /** Before a (re)join: leave any other Channel object joined or joining the same topic. */
  leaveOpenTopic(chan) {
    this.channels.find((c) => c !== chan && c.topic === chan.topic && ["joined", "joining"].includes(c.state))
      ?.leave();
  }

  makeRef() { return String(++this.refCounter); }
  isConnected() { return this.conn?.readyState === OPEN; }
  /** @returns {"connecting"|"open"|"closing"|"closed"} */
  connectionState() { return ["connecting", "open", "closing", "closed"][this.conn?.readyState ?? 3]; }

  /** Hooks; each returns a ref for `off([refs])`.  `onClose(cb(event))`, `onError(cb(event))`. */
  onOpen(callback) { return this.hook("open", callback); }
  onClose(callback) { return this.hook("close", callback); }
  onError(callback) { return this.hook("error", callback); }
  /** `callback(msg)` with every decoded frame. */
  onMessage(callback) { return this.hook("message", callback); }
  off(refs) {
    for (const kind of Object.keys(this.hooks)) this.hooks[kind] = this.hooks[kind].filter((h) => !refs.includes(h.ref));
  }

  hook(kind, callback) {
    const ref = this.makeRef();
    this.hooks[kind].push({ ref, callback });
    return ref;
  }
  emit(kind, ...args) { [...this.hooks[kind]].forEach((h) => h.callback(...args)); }
  log(kind, msg, data) { this.logger?.(kind, msg, data); }
}

// ---- Presence ---------------------------------------------------------------
// A state maps a key (a user) to {metas: [...]}, one meta per tracked process
// told apart by `phx_ref`.  States are objects without a prototype, so keys
// such as "constructor" or "__proto__" are ordinary keys.

const own = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
const clonePresence = (presence) => JSON.parse(JSON.stringify(presence));
function cloneState(state) {
  const copy = Object.create(null);
  for (const key of Object.keys(state)) copy[key] = clonePresence(state[key]);
  return copy;
}

/**
 * Sync `state` to a full `newState`: keys and metas new in it are joins, those
 * missing from it leaves, applied with `syncDiff`.  Changes neither argument.
 * @returns {object} the new state
 */
export function syncState(state, newState, onJoin = noop, onLeave = noop) {
  const current = cloneState(state);
  const joins = Object.create(null);
  const leaves = Object.create(null);
  for (const key of Object.keys(current)) if (!own(newState, key)) leaves[key] = current[key];
  for (const key of Object.keys(newState)) {
    const next = newState[key];
    if (!own(current, key)) { joins[key] = next; continue; }
    const nextRefs = new Set(next.metas.map((m) => m.phx_ref));
    const curRefs = new Set(current[key].metas.map((m) => m.phx_ref));
    const joined = next.metas.filter((m) => !curRefs.has(m.phx_ref));
    const left = current[key].metas.filter((m) => !nextRefs.has(m.phx_ref));
    if (joined.length > 0) joins[key] = { ...next, metas: joined };
    if (left.length > 0) leaves[key] = { ...current[key], metas: left };
  }
  return syncDiff(current, { joins, leaves }, onJoin, onLeave);
}

/**
 * Apply a `{joins, leaves}` diff.  A join replaces the key's entry with the
 * joined presence, keeping the key's other metas in front; a leave removes
 * metas by `phx_ref`, and the key once none is left.  Calls
 * `onJoin(key, currentOrUndefined, joined)` and `onLeave(key, remaining, left)`.
 * Changes neither argument.
 * @returns {object} the new state
 */
export function syncDiff(state, diff, onJoin = noop, onLeave = noop) {
  const result = cloneState(state);
  const joins = diff.joins ?? {};
  const leaves = diff.leaves ?? {};
  for (const key of Object.keys(joins)) {
    const current = own(result, key) ? result[key] : undefined;
    result[key] = clonePresence(joins[key]);
    if (current) {
      const joinedRefs = new Set(result[key].metas.map((m) => m.phx_ref));
      result[key].metas.unshift(...current.metas.filter((m) => !joinedRefs.has(m.phx_ref)));
    }
    onJoin(key, current, clonePresence(joins[key]));
  }
  for (const key of Object.keys(leaves)) {
    if (!own(result, key)) continue;
    const left = clonePresence(leaves[key]);
    const gone = new Set(left.metas.map((m) => m.phx_ref));
    const current = result[key];
    current.metas = current.metas.filter((m) => !gone.has(m.phx_ref));
    onLeave(key, current, left);
    if (current.metas.length === 0) delete result[key];
  }
  return result;
}

/** One element per key: `chooser(key, presence)`, by default the presence itself. */
export function list(state, chooser = (key, presence) => presence) {
  return Object.keys(state).map((key) => chooser(key, state[key]));
}

/**
 * A channel topic's presence, kept in sync from `presence_state` and
 * `presence_diff`.  Diffs that come before the state of the channel's current
 * join are held and applied after it.
 *
 *     const presence = new Presence(channel);
 *     presence.onSync(() => render(presence.list((user, {metas}) => ...)));
 */
export class Presence {
  constructor(channel, opts = {}) {
    const events = opts.events ?? { state: "presence_state", diff: "presence_diff" };
    this.channel = channel;
    this.state = Object.create(null);
    this.pendingDiffs = [];
    this.joinRef = null;   // the channel join whose presence_state we hold
    this.caller = { onJoin: noop, onLeave: noop, onSync: noop };
    channel.on(events.state, (newState) => {
      const { onJoin, onLeave, onSync } = this.caller;
      this.joinRef = channel.joinRef;
      this.state = syncState(this.state, newState, onJoin, onLeave);
      for (const diff of this.pendingDiffs.splice(0)) this.state = syncDiff(this.state, diff, onJoin, onLeave);
      onSync();
    });
    channel.on(events.diff, (diff) => {
      const { onJoin, onLeave, onSync } = this.caller;
      if (this.inPendingSyncState()) { this.pendingDiffs.push(diff); return; }
      this.state = syncDiff(this.state, diff, onJoin, onLeave);
      onSync();
    });
  }

  onJoin(callback) { this.caller.onJoin = callback; }
  onLeave(callback) { this.caller.onLeave = callback; }
  onSync(callback) { this.caller.onSync = callback; }
  list(chooser) { return list(this.state, chooser); }
  inPendingSyncState() { return !this.joinRef || this.joinRef !== this.channel.joinRef; }

  static syncState(state, newState, onJoin, onLeave) { return syncState(state, newState, onJoin, onLeave); }
  static syncDiff(state, diff, onJoin, onLeave) { return syncDiff(state, diff, onJoin, onLeave); }
  static list(state, chooser) { return list(state, chooser); }
}
