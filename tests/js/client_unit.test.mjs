// Unit tests of apps/chat's own client module: wire encoding and Presence sync.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Presence, decode, encode } from "../../apps/chat/static/js/client.js";

test("messages encode to and decode from the V2 five-element array", () => {
  const m = { join_ref: "1", ref: "2", topic: "room:a", event: "new_msg", payload: { body: "hi" } };
  assert.equal(encode(m), '["1","2","room:a","new_msg",{"body":"hi"}]');
  assert.deepEqual(decode('[null,null,"room:a","x",{}]'),
    { join_ref: null, ref: null, topic: "room:a", event: "x", payload: {} });
});

const meta = (ref, status = "online") => ({ phx_ref: ref, status });

test("syncState reports joins and leaves against the current state", () => {
  const joins = [], leaves = [];
  let state = Presence.syncState({}, { alice: { metas: [meta("1")] } },
    (key) => joins.push(key), (key) => leaves.push(key));
  assert.deepEqual(state, { alice: { metas: [meta("1")] } });
  state = Presence.syncState(state, { bob: { metas: [meta("2")] } },
    (key) => joins.push(key), (key) => leaves.push(key));
  assert.deepEqual(state, { bob: { metas: [meta("2")] } });
  assert.deepEqual(joins, ["alice", "bob"]);
  assert.deepEqual(leaves, ["alice"]);
});

test("several metas per key: a leave of one meta keeps the key", () => {
  let state = { carol: { metas: [meta("1"), meta("2")] } };
  const left = [];
  state = Presence.syncDiff(state, { joins: {}, leaves: { carol: { metas: [meta("1")] } } },
    undefined, (key, current) => left.push([key, current.metas.length]));
  assert.deepEqual(state, { carol: { metas: [meta("2")] } });
  assert.deepEqual(left, [["carol", 1]]);
  state = Presence.syncDiff(state, { joins: {}, leaves: { carol: { metas: [meta("2")] } } });
  assert.deepEqual(state, {});
});

test("an update is a join of the new meta and a leave of the old one", () => {
  let state = { dave: { metas: [meta("1")] } };
  state = Presence.syncDiff(state, {
    joins: { dave: { metas: [{ phx_ref: "2", phx_ref_prev: "1", status: "away" }] } },
    leaves: { dave: { metas: [meta("1")] } },
  });
  assert.deepEqual(state, { dave: { metas: [{ phx_ref: "2", phx_ref_prev: "1", status: "away" }] } });
  assert.deepEqual(Presence.list(state, (k, p) => `${k}:${p.metas.length}`), ["dave:1"]);
});

test("syncDiff does not mutate its input", () => {
  const state = { erin: { metas: [meta("1")] } };
  Presence.syncDiff(state, { joins: { erin: { metas: [meta("2")] } }, leaves: {} });
  assert.deepEqual(state, { erin: { metas: [meta("1")] } });
});
