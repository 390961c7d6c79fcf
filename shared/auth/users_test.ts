import assert from "node:assert/strict";
import { authenticate, createUser, credentialsSchema, getUser } from "./users.ts";
import { withTestDb } from "../testing/db.ts";
import { AppError } from "../errors.ts";

Deno.test("createUser() then authenticate(); a taken username is a conflict", async () => {
  await withTestDb("postgres", async ({ db }) => {
    const u = await createUser(db, { username: "alice", password: "password123" });
    assert.deepEqual(await getUser(db, u.id), u);
    assert.deepEqual(await authenticate(db, { username: "alice", password: "password123" }), u);
    assert.equal(await authenticate(db, { username: "alice", password: "password124" }), undefined);
    assert.equal(await authenticate(db, { username: "bob", password: "password123" }), undefined);
    await assert.rejects(
      createUser(db, { username: "alice", password: "another-pass" }),
      (e: unknown) => e instanceof AppError && e.code === "conflict",
    );
    const [row] = await db.query<{ password_hash: string }>("select password_hash from users");
    assert.ok(!row!.password_hash.includes("password123"));
  });
});

Deno.test("credentialsSchema refuses short passwords, odd usernames and unknown fields", () => {
  assert.equal(
    credentialsSchema.safeParse({ username: "al", password: "password123" }).success,
    false,
  );
  assert.equal(
    credentialsSchema.safeParse({ username: "a b", password: "password123" }).success,
    false,
  );
  assert.equal(
    credentialsSchema.safeParse({ username: "alice", password: "short" }).success,
    false,
  );
  assert.equal(
    credentialsSchema.safeParse({ username: "alice", password: "password123", admin: true })
      .success,
    false,
  );
});
