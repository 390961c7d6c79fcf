/** File system errors as short reasons for documents and scan entries. */
import { errorMessage } from "../errors.ts";

/** A short reason for a failed read, without the path (the document records its uri). */
export function readErrorReason(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "file not found (deleted or moved?)";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.IsADirectory) return "is a directory";
  const message = errorMessage(err);
  // Deno appends ": <syscall> '<path>'" to OS errors.
  return message.replace(/:\s*\w+\s+'.*'$/, "");
}
