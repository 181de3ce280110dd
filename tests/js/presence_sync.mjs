// The official `phoenix` client's Presence.syncState / syncDiff, driven over
// stdin/stdout so Python tests can replay server output through it.
// Run by tests/presence/test_presence_diffs.py:
//
//   node presence_sync.mjs
//
// Every input line is a JSON array of runs; a run is a list of steps, each
// ["state", presence_state payload] or ["diff", presence_diff payload],
// applied in order to an empty client state.  For every input line one
// output line is written: the JSON array of the runs' final states.
// One process serves a whole test session, so batch many runs per line.
import { Presence } from "phoenix";
import { createInterface } from "node:readline";

function replay(steps) {
  let state = {};
  for (const [kind, payload] of steps) {
    state = kind === "state" ? Presence.syncState(state, payload)
                             : Presence.syncDiff(state, payload);
  }
  return { ...state };   // a plain object again, for JSON
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === "") continue;
  process.stdout.write(JSON.stringify(JSON.parse(line).map(replay)) + "\n");
}
