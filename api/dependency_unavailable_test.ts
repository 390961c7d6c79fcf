import assert from "node:assert/strict";
import { isDependencyUnavailable } from "./dependency_unavailable.ts";

const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

Deno.test("isDependencyUnavailable() recognises refused and dropped connections and shutdowns", () => {
  for (
    const err of [
      withCode("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"),
      withCode("CONNECTION_CLOSED"),
      withCode("CONNECT_TIMEOUT"),
      withCode("57P01", "terminating connection due to administrator command"),
      withCode("57P03", "the database system is starting up"),
      withCode("08006"),
      Object.assign(new Error("Reached the max retries per request limit"), {
        name: "MaxRetriesPerRequestError",
      }),
      new Error("Connection is closed."),
      new Error("query failed", { cause: withCode("ECONNRESET") }),
    ]
  ) {
    assert.equal(isDependencyUnavailable(err), true, String(err));
  }
});

Deno.test("isDependencyUnavailable() leaves other errors alone", () => {
  for (
    const err of [
      new Error("boom"),
      withCode("23505", "duplicate key value violates unique constraint"),
      withCode("42P01", "relation does not exist"),
      new TypeError("x is undefined"),
      "ECONNREFUSED",
      undefined,
    ]
  ) {
    assert.equal(isDependencyUnavailable(err), false, String(err));
  }
});
