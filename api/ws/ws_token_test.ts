import assert from "node:assert/strict";
import { wsToken } from "./ws_token.ts";

const req = (url: string, protocol?: string) =>
  new Request(
    url,
    protocol === undefined ? {} : { headers: { "sec-websocket-protocol": protocol } },
  );

Deno.test("wsToken() takes the token from the access_token subprotocol and echoes it exactly", () => {
  assert.deepEqual(wsToken(req("http://h/ws/operations", "access_token.abc.def")), {
    token: "abc.def",
    protocol: "access_token.abc.def",
  });
  // Another protocol listed first: the token one is still the one selected.
  assert.deepEqual(wsToken(req("http://h/ws/operations", "json, access_token.x.y.z")), {
    token: "x.y.z",
    protocol: "access_token.x.y.z",
  });
});

Deno.test("wsToken() falls back to ?token=, and the subprotocol wins over it", () => {
  assert.deepEqual(wsToken(req("http://h/ws/operations?token=q1")), { token: "q1" });
  assert.deepEqual(wsToken(req("http://h/ws/operations?token=q1", "access_token.p1")), {
    token: "p1",
    protocol: "access_token.p1",
  });
  assert.deepEqual(wsToken(req("http://h/ws/operations?token=q1", "json")), { token: "q1" });
});

Deno.test("wsToken() reports no token, and echoes an empty token protocol so the close code shows", () => {
  assert.deepEqual(wsToken(req("http://h/ws/operations")), {});
  assert.deepEqual(wsToken(req("http://h/ws/operations?token=")), {});
  assert.deepEqual(wsToken(req("http://h/ws/operations", "access_token.")), {
    protocol: "access_token.",
  });
});
