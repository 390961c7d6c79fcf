import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { loadLua } from "./load_lua.ts";

Deno.test("loadLua() pastes in the includes a script names, once per line that names one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "includes"));
    await Deno.writeTextFile(join(dir, "includes", "helper.lua"), "local function h() end");
    await Deno.writeTextFile(
      join(dir, "main.lua"),
      "-- KEYS[1]: a key\n--@include helper\nreturn h()\n-- not an include: --@include helper",
    );
    assert.equal(
      await loadLua(new URL("main.lua", pathToFileURL(dir + "/"))),
      "-- KEYS[1]: a key\nlocal function h() end\nreturn h()\n-- not an include: --@include helper",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
