// The chat page (index.html): log in with a name, join a room, chat, and see
// who is online.  An ES module with no build step, on the project's own
// client (./client.js).
//
// Elements the browser tests rely on (each id is also its data-testid):
//   #name, #login      the name form; #login fetches a token, connects and joins #room
//   #room, #join       the room to be in (default "lobby"); #join switches rooms later
//   #messages          li.message[data-user=NAME] > .user, .body, .at (oldest first): the
//                      messages the server has taken.  What this page sends shows at once as
//                      li.outgoing[data-state=pending]; if the server refuses it, it stays as
//                      li.outgoing[data-state=refused] with its own .note (the reason) and a
//                      .retry button
//   #body, #send       the message form
//   #online            li.user[data-user=NAME][data-count=TABS][data-status=online|away|typing]
//   #online-count      how many users are online
//   #status-banner     [data-state=idle|connecting|reconnecting|connected]; "connected"
//                      only once the socket is open and the room joined
//   #error             the last error (login, join, send); empty when there is none
//   #me, #room-title   who you are, and the current room
//
// What it needs of the server: GET /api/token?name=NAME answers 200
// {"token": "..."}, or another status with {"error": "..."} (or any text),
// which is shown; the socket at /socket takes params {token}; topic
// "room:NAME" with join payload {} replies {messages: [{user, body, at}]},
// then "presence_state"/"presence_diff" (metas carry `status`) and "new_msg"
// {user, body, at} broadcasts; the page pushes "new_msg" {body} and
// "status" {status}, and shows the `reason` of an error reply.
import { Presence, Socket } from "./client.js";

const TYPING_IDLE_MS = 2000;       // typing -> online after this long without a keystroke
const TOKEN_REFRESH_MS = 60000;    // while disconnected, get a fresh token at most this often
const STATUS_ORDER = ["typing", "online", "away"];   // a user's status: their "liveliest" tab's
const BANNER = { idle: "", connecting: "connecting…", reconnecting: "reconnecting…", connected: "connected" };

const $ = (id) => document.getElementById(id);

const session = {
  name: null, token: null, tokenAt: 0,
  socket: null, channel: null, presence: null,
  everOpened: false, everJoined: false,   // "connecting" the first time, "reconnecting" after
  sentStatus: null,                       // the status the server holds for the current join
  typing: false, typingTimer: null,
  shown: new Set(),                       // messages on screen, to merge a rejoin's history
};

// ---- logging in -----------------------------------------------------------

async function login() {
  const name = $("name").value.normalize("NFKC").trim();   // the server takes names in NFKC form only
  if (!name) { showError("pick a name first"); $("name").focus(); return; }
  $("login").disabled = true;
  try {
    session.token = await fetchToken(name);
    session.tokenAt = Date.now();
    session.name = name;
    showError("");
    enter();
  } catch (e) {
    showError(e.message);
  } finally {
    $("login").disabled = false;
  }
}

/** The signed token for `name`; throws an Error with the server's words when refused. */
async function fetchToken(name) {
  let resp;
  try {
    resp = await fetch(`/api/token?name=${encodeURIComponent(name)}`, { cache: "no-store" });
  } catch {
    throw new Error("cannot reach the server");
  }
  const text = await resp.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON: show the text itself */ }
  if (!resp.ok) throw new Error(body?.error ?? body?.reason ?? (text.trim() || `login refused (HTTP ${resp.status})`));
  if (typeof body?.token !== "string") throw new Error("login failed: the server sent no token");
  return body.token;
}

/** A token signed long ago may have expired: refresh it, quietly, before the next reconnect. */
async function refreshToken() {
  if (Date.now() - session.tokenAt < TOKEN_REFRESH_MS) return;
  session.tokenAt = Date.now();
  try { session.token = await fetchToken(session.name); } catch { /* server still away: retry later */ }
}

function enter() {
  document.body.dataset.view = "chat";
  $("me").textContent = session.name;
  // LongPoll where websockets are blocked (proxies, some mobile networks)
  const socket = new Socket("/socket", { params: () => ({ token: session.token }),
                                         longPollFallbackMs: 2500 });
  socket.onOpen(() => { session.everOpened = true; renderBanner(); });
  socket.onClose(() => { renderBanner(); refreshToken(); });
  socket.onError(() => renderBanner());
  session.socket = socket;
  socket.connect();
  joinRoom(roomName());
  $("body").focus();
}

// ---- the room -------------------------------------------------------------

function roomName() { return $("room").value.normalize("NFKC").trim() || "lobby"; }

function joinRoom(room) {
  const topic = `room:${room}`;
  if (session.channel?.topic === topic) return;
  session.channel?.leave();
  session.shown.clear();
  $("messages").replaceChildren();
  $("online").replaceChildren();
  $("online-count").textContent = "";
  $("room-title").textContent = `#${room}`;
  document.title = `#${room} · beamish chat`;

  const channel = session.socket.channel(topic, {});
  const presence = new Presence(channel);
  Object.assign(session, { channel, presence, everJoined: false });
  presence.onSync(() => { if (session.channel === channel) renderOnline(presence); });
  channel.on("new_msg", (msg) => addMessage(msg));
  channel.onError(() => renderBanner());
  channel.join()
    .receive("ok", ({ messages = [] } = {}) => {
      // Every (re)join lands here: the server tracks a fresh join as "online".
      session.everJoined = true;
      session.sentStatus = "online";
      messages.forEach(addMessage);   // after a reconnect: only those we missed are new
      showError("");
      renderBanner();
      syncStatus();
    })
    .receive("error", ({ reason = "refused" } = {}) => {
      showError(`cannot join ${room}: ${reason}`);
      channel.leave();
      if (session.channel === channel) Object.assign(session, { channel: null, presence: null });
      renderBanner();
    })
    .receive("timeout", () => renderBanner());
  renderBanner();
}

function send() {
  const { channel } = session;
  if (!channel) { showError("join a room first"); return; }
  const body = $("body").value;
  if (body.trim() === "") { push(channel, body, null); return; }   // the server says why
  $("body").value = "";
  setTyping(false);
  push(channel, body, addPending(body));
}

/**
 * Push one message.  `pending` is its li (null for a blank one): it goes
 * when the server accepts the message (whose broadcast is on screen by
 * then), and when the server refuses it, it stays, marked with the reason,
 * so each refused message says so beside itself.
 */
function push(channel, body, pending) {
  const refused = (reason) => {
    showError(reason);
    if (pending) markRefused(pending, reason, () => { pending.remove(); push(channel, body, addPending(body)); });
  };
  channel.push("new_msg", { body })
    .receive("ok", () => { pending?.remove(); showError(""); })
    .receive("error", ({ reason = "not sent" } = {}) => refused(reason))
    .receive("timeout", () => refused("not sent: the server did not answer"));
}

// ---- status: online, away (tab hidden), typing ----------------------------

function wantedStatus() {
  if (document.hidden) return "away";
  return session.typing ? "typing" : "online";
}

/** Push our status when it differs from what the server holds (so typing is sent once per burst). */
function syncStatus() {
  const { channel } = session;
  const status = wantedStatus();
  if (!channel || channel.state !== "joined" || status === session.sentStatus) return;
  session.sentStatus = status;
  channel.push("status", { status })
    .receive("error", ({ reason } = {}) => {
      // refused (too many changes): the server kept the old one, so send again next time
      if (session.channel === channel && session.sentStatus === status) session.sentStatus = null;
      console.warn("status not updated:", reason);
    });
}

function setTyping(typing) {
  clearTimeout(session.typingTimer);
  session.typing = typing;
  if (typing) session.typingTimer = setTimeout(() => setTyping(false), TYPING_IDLE_MS);
  syncStatus();
}

// ---- rendering ------------------------------------------------------------

function connectionState() {
  const { socket, channel } = session;
  if (!socket) return "idle";
  if (!socket.isConnected()) return session.everOpened ? "reconnecting" : "connecting";
  if (channel && channel.state !== "joined") return session.everJoined ? "reconnecting" : "connecting";
  return "connected";
}

function renderBanner() {
  const banner = $("status-banner");
  const state = connectionState();
  banner.dataset.state = state;
  banner.textContent = BANNER[state];
}

function showError(text) { $("error").textContent = text; }

/** A stable colour per name, so a conversation is easy to follow. */
function hue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

/** Is the message list scrolled to (near) its end? */
function atBottom(list) { return list.scrollHeight - list.scrollTop - list.clientHeight < 40; }

function addMessage({ user, body, at }) {
  const key = `${at}\n${user}\n${body}`;
  if (session.shown.has(key)) return;
  session.shown.add(key);
  const list = $("messages");
  const follow = atBottom(list);
  const li = element("li", { className: "message", dataset: { user, at: String(at) } });
  li.classList.toggle("mine", user === session.name);
  const when = typeof at === "number" ? new Date(at) : null;
  li.append(
    element("span", { className: "user", textContent: user, style: `--hue: ${hue(String(user))}` }),
    element("span", { className: "body", textContent: body }),
    element("time", { className: "at", textContent: when ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "",
                      title: when ? when.toLocaleString() : "" }),
  );
  // Keep time order (history and live messages can interleave around a rejoin).
  let next = null;
  for (let prev = list.lastElementChild; prev && Number(prev.dataset.at) > at; prev = prev.previousElementSibling) next = prev;
  list.insertBefore(li, next);
  if (follow || user === session.name) list.scrollTop = list.scrollHeight;
}

/** Show a message of ours before the server has taken it (its time: now, by our clock). */
function addPending(body) {
  const list = $("messages");
  const li = element("li", { className: "outgoing mine",
                             dataset: { user: session.name, at: String(Date.now()), state: "pending" } });
  li.append(element("span", { className: "user", textContent: session.name, style: `--hue: ${hue(session.name)}` }),
            element("span", { className: "body", textContent: body.trim() }));
  list.append(li);
  list.scrollTop = list.scrollHeight;
  return li;
}

function markRefused(li, reason, retry) {
  li.dataset.state = "refused";
  const button = element("button", { className: "retry", type: "button", textContent: "retry",
                                     title: "send this message again" });
  button.addEventListener("click", retry);
  li.append(element("span", { className: "note", textContent: `not sent: ${reason}` }), button);
  const list = $("messages");
  if (atBottom(list) || li === list.lastElementChild) list.scrollTop = list.scrollHeight;
}

function renderOnline(presence) {
  const users = presence.list((name, { metas }) => {
    const statuses = metas.map((m) => m.status ?? "online");
    return { name, count: metas.length, status: STATUS_ORDER.find((s) => statuses.includes(s)) ?? statuses[0] };
  });
  users.sort((a, b) => a.name.localeCompare(b.name));
  $("online-count").textContent = String(users.length);
  $("online").replaceChildren(...users.map(({ name, count, status }) => {
    const li = element("li", { className: "user", dataset: { user: name, count: String(count), status } });
    li.classList.toggle("me", name === session.name);
    li.append(
      element("span", { className: "dot", title: status }),
      element("span", { className: "name", textContent: name, style: `--hue: ${hue(name)}` }),
      element("span", { className: "count", textContent: count > 1 ? `×${count}` : "",
                        title: `${count} tab${count > 1 ? "s" : ""} or device${count > 1 ? "s" : ""}` }),
      element("span", { className: "status", textContent: status === "typing" ? "typing…" : status }),
    );
    return li;
  }));
}

function element(tag, { dataset = {}, style, ...props } = {}) {
  const el = Object.assign(document.createElement(tag), props);
  Object.assign(el.dataset, dataset);
  if (style) el.style.cssText = style;
  return el;
}

// ---- wiring ---------------------------------------------------------------

$("login-form").addEventListener("submit", (e) => { e.preventDefault(); login(); });
$("room-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (session.socket) joinRoom(roomName());
  else login();
});
$("post-form").addEventListener("submit", (e) => { e.preventDefault(); send(); });
$("body").addEventListener("input", () => setTyping($("body").value.trim() !== ""));
$("body").addEventListener("blur", () => setTyping(false));
document.addEventListener("visibilitychange", syncStatus);
// When the list gets shorter (a phone's keyboard opens, the window shrinks,
// the online strip grows), keep the newest message in view if it was.  Only
// the user's own scrolling decides whether we follow: the browser also fires
// "scroll" when the box shrinks, before the ResizeObserver runs, so a scroll
// at a new height is not taken as the user's.
{
  const list = $("messages");
  let follow = true;
  let height = list.clientHeight;
  list.addEventListener("scroll", () => { if (list.clientHeight === height) follow = atBottom(list); });
  new ResizeObserver(() => {
    height = list.clientHeight;
    if (follow) list.scrollTop = list.scrollHeight;
  }).observe(list);
}
renderBanner();
