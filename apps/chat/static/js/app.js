// The chat page.  Element ids the browser tests rely on:
//   #name #room #login (login form)     #messages > li.message[data-user]
//   #body #send (post form)             #online > li.user[data-user][data-count][data-status]
//   #status-banner[data-state=connected|reconnecting]   #error
import { Socket, Presence } from "./client.js";

const $ = (id) => document.getElementById(id);
let channel = null;

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("name").value.trim(), room = $("room").value.trim() || "lobby";
  const resp = await fetch(`/api/token?name=${encodeURIComponent(name)}`);
  const body = await resp.json();
  if (!resp.ok) { $("error").textContent = body.error || "login failed"; return; }
  start(body.token, room);
});

function start(token, room) {
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("room-title").textContent = `#${room}`;
  const socket = new Socket("/socket", { params: { token } });
  const banner = $("status-banner");
  socket.onOpen(() => { banner.dataset.state = "connected"; banner.textContent = "connected"; });
  socket.onClose(() => { banner.dataset.state = "reconnecting"; banner.textContent = "reconnecting…"; });
  socket.connect();

  channel = socket.channel(`room:${room}`, {});
  const presence = new Presence(channel);
  presence.onSync(() => renderOnline(presence));
  channel.on("new_msg", addMessage);
  channel.join()
    .receive("ok", ({ messages }) => {
      $("messages").replaceChildren();
      messages.forEach(addMessage);
      $("error").textContent = "";
    })
    .receive("error", ({ reason }) => { $("error").textContent = `cannot join: ${reason}`; });

  $("post-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("body").value;
    channel.push("new_msg", { body: text })
      .receive("ok", () => { $("body").value = ""; $("error").textContent = ""; setStatus("online"); })
      .receive("error", ({ reason }) => { $("error").textContent = reason; })
      .receive("timeout", () => { $("error").textContent = "not sent: the server did not answer"; });
  });
  let idle = null;
  $("body").addEventListener("input", () => {
    if ($("body").value) setStatus("typing");
    clearTimeout(idle);
    idle = setTimeout(() => setStatus("online"), 2000);
  });
  document.addEventListener("visibilitychange", () => setStatus(document.hidden ? "away" : "online"));
}

let lastStatus = "online";
function setStatus(status) {
  if (status === lastStatus || !channel || channel.state !== "joined") return;
  lastStatus = status;
  channel.push("status", { status });
}

function addMessage({ user, body, at }) {
  const li = document.createElement("li");
  li.className = "message";
  li.dataset.user = user;
  const who = document.createElement("span");
  who.className = "user";
  who.textContent = user;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = body;
  const when = document.createElement("span");
  when.className = "at";
  when.textContent = new Date(at).toLocaleTimeString();
  li.append(who, text, when);
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
}

function renderOnline(presence) {
  const users = presence.list((name, { metas }) => ({ name, count: metas.length,
    status: metas.some((m) => m.status === "typing") ? "typing"
      : metas.some((m) => m.status === "online") ? "online" : metas[0].status }));
  users.sort((a, b) => a.name.localeCompare(b.name));
  $("online-count").textContent = `(${users.length})`;
  $("online").replaceChildren(...users.map(({ name, count, status }) => {
    const li = document.createElement("li");
    li.className = "user";
    Object.assign(li.dataset, { user: name, count: String(count), status });
    li.innerHTML = `<span class="name"></span><span class="status"></span>`;
    li.querySelector(".name").textContent = count > 1 ? `${name} (${count})` : name;
    li.querySelector(".status").textContent = status;
    return li;
  }));
}
