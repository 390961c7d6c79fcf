/** The types of the HTTP application that its routes and middleware share (see `createApp`). */
import type { OpenAPIHono } from "@hono/zod-openapi";

export interface ApiEnv {
  Variables: {
    user: { id: string; username: string };
    /** The API key the request was authenticated with; absent for a login token (full access). */
    apiKey?: { id: string; scopes: ("read" | "write")[] };
    /** The request's id (`x-request-id`, generated when absent). */
    requestId: string;
  };
}

export type ApiApp = OpenAPIHono<ApiEnv>;
