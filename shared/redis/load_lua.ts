/**
 * The one Lua loader: reads a script file and pastes in the helpers it names with
 * `--@include <name>` (from `includes/<name>.lua` beside it), as BullMQ does with its includes.
 * Scripts are read once per process, at module load; `deno compile` needs `--include` for their
 * folders (see scripts/compile_worker.ts).
 */
export async function loadLua(url: URL): Promise<string> {
  const source = await Deno.readTextFile(url);
  const parts: string[] = [];
  for (const line of source.split("\n")) {
    const m = /^--@include\s+([a-z_]+)\s*$/.exec(line);
    parts.push(m ? await Deno.readTextFile(new URL(`includes/${m[1]}.lua`, url)) : line);
  }
  return parts.join("\n");
}
