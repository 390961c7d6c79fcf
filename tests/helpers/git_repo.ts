/**
 * A Git repository a test makes and changes: commits with a fixed identity and no user or system
 * configuration, so tests do not depend on the machine's git setup.
 */
import { dirname, join } from "node:path";

const ENV = {
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.com",
  LC_ALL: "C",
};

/** Runs git in `cwd`; throws with its stderr on failure; resolves with its stdout. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args,
    cwd,
    env: ENV,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

export class TestRepo {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  /** An empty repository whose default branch is `branch`. */
  static async create(dir: string, branch = "main"): Promise<TestRepo> {
    await Deno.mkdir(dir, { recursive: true });
    await git(dir, "init", "--quiet", "-b", branch);
    return new TestRepo(dir);
  }

  /**
   * Writes (string or bytes), deletes (null) and renames (`{from}`) files, commits everything,
   * and returns the new commit id.
   */
  async commit(
    changes: Record<string, string | Uint8Array | null | { from: string }>,
    message = "change",
  ): Promise<string> {
    for (const [path, content] of Object.entries(changes)) {
      const full = join(this.dir, path);
      if (content === null) {
        await git(this.dir, "rm", "--quiet", "--", path);
      } else if (content instanceof Uint8Array || typeof content === "string") {
        await Deno.mkdir(dirname(full), { recursive: true });
        if (typeof content === "string") await Deno.writeTextFile(full, content);
        else await Deno.writeFile(full, content);
      } else {
        await Deno.mkdir(dirname(full), { recursive: true });
        await git(this.dir, "mv", "--", content.from, path);
      }
    }
    await git(this.dir, "add", "--all");
    await git(this.dir, "commit", "--quiet", "--allow-empty", "-m", message);
    return await this.head();
  }

  async head(): Promise<string> {
    return await git(this.dir, "rev-parse", "HEAD");
  }

  /** The blob id git gives `path` at HEAD. */
  async blob(path: string): Promise<string> {
    return await git(this.dir, "rev-parse", `HEAD:${path}`);
  }
}
