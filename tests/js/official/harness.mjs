// What every scenario file of the official `phoenix` client shares: the
// command line (`node FILE.mjs SCENARIO PORT`), the progress protocol
// (`step ...` lines, then `ok` and exit 0, or `fail ...` and exit 1), a
// watchdog, and small promise wrappers around joins and pushes.
import { Socket } from "phoenix";

export const [scenario, port] = process.argv.slice(2);
export const endPoint = `ws://127.0.0.1:${port}/socket`;
export const done = (msg = "ok") => { console.log(msg); process.exit(0); };
export const fail = (msg) => { console.log(`fail ${msg}`); process.exit(1); };
export const step = (msg) => console.log(`step ${msg}`);
export const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// Bound the run; returns the connect function for the given transport.
export function setup(transport, watchdogMs) {
  setTimeout(() => fail(`watchdog: ${scenario} took too long`), watchdogMs);
  return function connect(params = {}, opts = {}) {
    const socket = new Socket(endPoint, {
      transport, params, reconnectAfterMs: () => 100, rejoinAfterMs: () => 100, ...opts,
    });
    socket.connect();
    return socket;
  };
}

export function joined(channel) {
  return new Promise((resolve, reject) => {
    channel.join().receive("ok", resolve).receive("error", reject)
      .receive("timeout", () => reject(new Error("join timeout")));
  });
}

export function reply(push) {
  return new Promise((resolve) => {
    push.receive("ok", (r) => resolve(["ok", r])).receive("error", (r) => resolve(["error", r]))
      .receive("timeout", () => resolve(["timeout", null]));
  });
}
