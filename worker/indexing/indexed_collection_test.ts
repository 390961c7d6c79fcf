import assert from "node:assert/strict";
import { AppError, SecretError, SourceError } from "@semantik/shared";
import { isPermanentFailure } from "./indexed_collection.ts";

Deno.test("isPermanentFailure(): a refused token, a missing repository, a disallowed address and an unopenable sealed token fail at once; an outage is retried", () => {
  for (const code of ["auth_failed", "not_found", "not_allowed", "invalid"] as const) {
    assert.equal(isPermanentFailure(new SourceError(code, "x")), true, code);
  }
  assert.equal(isPermanentFailure(new SourceError("unreachable", "x")), false);
  assert.equal(isPermanentFailure(new SecretError("Cannot open secret: x")), true);
  assert.equal(isPermanentFailure(new AppError("path_not_allowed", "x")), true);
  assert.equal(isPermanentFailure(new Error("connection reset")), false);
});
