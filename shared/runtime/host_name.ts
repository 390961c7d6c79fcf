/** This host's name, or `unknown` without the permission to read it. */
export function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}
