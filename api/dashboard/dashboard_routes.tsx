/** `/` and its one script. */
import type { ApiApp } from "../app.ts";
import type { ApiServices } from "../services.ts";
import { DashboardPage } from "./dashboard_page.tsx";

const SCRIPT = await Deno.readTextFile(new URL("./dashboard.js", import.meta.url));

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
  app.get("/assets/dashboard.js", (c) => {
    c.header("cache-control", "no-cache");
    return c.body(SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8" });
  });
}
