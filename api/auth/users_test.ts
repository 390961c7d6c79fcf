import assert from "node:assert/strict";
import {
  authenticate,
  createUser,
  credentialsSchema,
  getUser,
  normalizeUsername,
} from "./users.ts";
import { withTestDb } from "@semantik/shared/testing";
import { AppError } from "@semantik/shared";
import { hashPassword, verifyPassword } from "./password.ts";

Deno.test("createUser() then authenticate(); a taken username is a conflict", async () => {
  await withTestDb("postgres", async ({ db }) => {
    const fast = { cost: 14 };
    const u = await createUser(db, { username: "alice", password: "password123" }, fast);
    assert.deepEqual(await getUser(db, u.id), u);
    assert.deepEqual(
      await authenticate(db, { username: "alice", password: "password123" }, fast),
      { ...u, tokenVersion: 0 },
    );
    assert.equal(
      await authenticate(db, { username: "alice", password: "password124" }, fast),
      undefined,
    );
    assert.equal(
      await authenticate(db, { username: "bob", password: "password123" }, fast),
      undefined,
    );
    await assert.rejects(
      createUser(db, { username: "alice", password: "another-pass" }, fast),
      (e: unknown) => e instanceof AppError && e.code === "conflict",
    );
    const [row] = await db.query<{ password_hash: string }>("select password_hash from users");
    assert.ok(!row!.password_hash.includes("password123"));
  });
});

Deno.test("authenticate() rewrites a hash with old parameters at the next successful login", async () => {
  await withTestDb("postgres", async ({ db }) => {
    // A hash as this project wrote it before (scrypt N = 2^14), stored by hand.
    const old = await hashPassword("password123", { cost: 14 });
    assert.match(old, /^scrypt\$16384\$/);
    const id = crypto.randomUUID();
    await db.query("insert into users (id, username, password_hash) values ($1, 'carol', $2)", [
      id,
      old,
    ]);
    const stored = async () =>
      (await db.query<{ h: string }>("select password_hash as h from users where id = $1", [id]))[
        0
      ]!
        .h;
    // A wrong password changes nothing.
    assert.equal(await authenticate(db, { username: "carol", password: "password124" }), undefined);
    assert.equal(await stored(), old);
    // The right one logs in with the old hash, which is then rewritten at today's parameters.
    assert.deepEqual(
      await authenticate(db, { username: "carol", password: "password123" }),
      { id, username: "carol", tokenVersion: 0 },
    );
    const upgraded = await stored();
    assert.match(upgraded, /^scrypt\$131072\$8\$1\$/);
    assert.equal(await verifyPassword("password123", upgraded), true);
    assert.equal(await verifyPassword("password124", upgraded), false);
    // And it still logs in, without another rewrite.
    assert.ok(await authenticate(db, { username: "carol", password: "password123" }));
    assert.equal(await stored(), upgraded);
  });
});

Deno.test("usernames are one account whatever their case, kept as registered", async () => {
  await withTestDb("postgres", async ({ db }) => {
    const fast = { cost: 14 };
    const u = await createUser(db, { username: "Alice", password: "password123" }, fast);
    for (const username of ["alice", "ALICE", "Alice"]) {
      await assert.rejects(
        createUser(db, { username, password: "another-pass" }, fast),
        (e: unknown) => e instanceof AppError && e.code === "conflict",
        username,
      );
      assert.deepEqual(
        await authenticate(db, { username, password: "password123" }, fast),
        { ...u, tokenVersion: 0 },
        username,
      );
    }
    // The database itself refuses a second spelling, whatever path writes it.
    await assert.rejects(
      db.query("insert into users (id, username, password_hash) values ($1, 'aLiCe', 'x')", [
        crypto.randomUUID(),
      ]),
    );
    assert.equal(normalizeUsername(" MiXed.Case@x "), "mixed.case@x");
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
