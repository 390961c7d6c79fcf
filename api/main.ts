/** `deno task api`: serves the REST API and WebSockets until SIGTERM/SIGINT. */
import { configureLogging, createRuntime, loadConfigOrExit } from "@semantik/shared";
import { startApi } from "./server.ts";

const config = loadConfigOrExit();
configureLogging({
  level: config.logLevel,
  format: config.environment === "production" ? "json" : "pretty",
});
const rt = await createRuntime(config, { role: "api" });
const server = await startApi(rt);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  rt.log.info("api shutting down");
  await server.close();
  await rt.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
