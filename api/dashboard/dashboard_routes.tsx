/** `/` and its scripts: every `.js` file beside this one, served as `/assets/<name>.js`. */
import type { ApiApp } from "../api_env.ts";
import type { ApiServices } from "../services.ts";
import { DashboardPage } from "./dashboard_page.tsx";

const SCRIPTS = await readScripts();

async function readScripts(): Promise<Map<string, string>> {
  const dir = new URL("./", import.meta.url);
  const scripts = new Map<string, string>();
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && /^[a-z0-9_]+\.js$/.test(entry.name)) {
      scripts.set(entry.name, await Deno.readTextFile(new URL(entry.name, dir)));
    }
  }
  return scripts;
}

export function registerDashboardRoutes(app: ApiApp, s: ApiServices): void {
  app.get("/", (c) => {
    c.header(
      "content-security-policy",
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:",
    );
    return c.html(
      "<!doctype html>" +
        (<DashboardPage allowRegistration={s.rt.config.allowRegistration} />).toString(),
    );
  });
  app.get("/assets/:name{[a-z0-9_]+\\.js}", (c) => {
    const script = SCRIPTS.get(c.req.param("name"));
    if (script === undefined) return c.notFound();
    c.header("cache-control", "no-cache");
    return c.body(script, 200, { "content-type": "text/javascript; charset=utf-8" });
  });
}
