import assert from "node:assert/strict";
import { connectPostgres, socketOf } from "./postgres_driver.ts";
import { testDatabaseUrl } from "../testing/db.ts";

Deno.test("socketOf() takes libpq's ?host=/dir as the socket in that directory, the port's", () => {
  assert.deepEqual(socketOf("postgres://app@localhost/semantik?host=/var/run/postgresql"), {
    url: "postgres://app@localhost/semantik",
    path: "/var/run/postgresql/.s.PGSQL.5432",
  });
  assert.deepEqual(
    socketOf("postgres://app:pw@db:5433/semantik?host=%2Ftmp%2Fpg%2F&search_path=x"),
    { url: "postgres://app:pw@db:5433/semantik?search_path=x", path: "/tmp/pg/.s.PGSQL.5433" },
  );
});

Deno.test("socketOf() takes libpq's ?host=name as the host, and leaves other urls as they are", () => {
  assert.deepEqual(socketOf("postgres://app@localhost:5433/semantik?host=db.internal&x=1"), {
    url: "postgres://app@db.internal:5433/semantik?x=1",
  });
  for (
    const url of [
      "postgres://app@127.0.0.1:5432/semantik",
      "postgres://app@localhost/semantik?sslmode=disable",
      "not a url",
    ]
  ) {
    assert.deepEqual(socketOf(url), { url });
  }
});

Deno.test("connectPostgres() reaches the test server through its Unix socket", async () => {
  // Where this server keeps its socket, asked over the usual url (no directory assumed).
  const tcp = connectPostgres(testDatabaseUrl(), { max: 1 });
  let dir: string;
  try {
    const [row] = await tcp.query<{ dirs: string }>(
      "select current_setting('unix_socket_directories') as dirs",
    );
    dir = row!.dirs.split(",")[0]!.trim();
  } finally {
    await tcp.close();
  }
  assert.ok(dir.startsWith("/"), `the server keeps no socket in a directory: ${dir}`);
  const url = new URL(testDatabaseUrl());
  url.searchParams.set("host", dir);
  const db = connectPostgres(url.href, { max: 1 });
  try {
    // inet_server_addr() is null on a Unix-socket connection, an address over TCP.
    const [row] = await db.query<{ addr: string | null; n: number }>(
      "select inet_server_addr()::text as addr, $1::int + 1 as n",
      [41],
    );
    assert.deepEqual(row, { addr: null, n: 42 });
  } finally {
    await db.close();
  }
});
