/**
 * Files whose names are not valid UTF-8. Deno's file system calls take and give paths as strings:
 * `Deno.readDir` replaces invalid bytes with U+FFFD (two such names can come out the same), and no
 * string reaches the original bytes again (`Deno.open` of the lossy name is ENOENT; `node:fs`
 * with `{encoding: "buffer"}` gives the lossy bytes too; a `file:` URL with `%FF` is refused). So
 * these few calls go to libc through FFI with the raw bytes (Linux): list a directory's names,
 * and open one name relative to an opened directory without following a link, then hand the
 * opened file to Deno through `/proc/self/fd`. Where FFI or libc is unavailable, `rawFs()` is
 * undefined and such names are reported instead of read.
 */

const O_RDONLY = 0;
const O_NONBLOCK = 0o4000;
const O_DIRECTORY = 0o200000;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
const ENOENT = 2;
const EACCES = 13;
const ELOOP = 40;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  fdopendir: { parameters: ["i32"], result: "pointer" },
  readdir64: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** Why a raw call failed: the errno, as a Deno error where one fits. */
export class RawFsError extends Error {
  readonly errno: number;
  constructor(call: string, errno: number) {
    super(`${call} failed: errno ${errno}`);
    this.name = "RawFsError";
    this.errno = errno;
  }
  get isLink(): boolean {
    return this.errno === ELOOP;
  }
  /** The Deno error for the same errno, for the usual reasons. */
  toDenoError(): Error {
    if (this.errno === ENOENT) return new Deno.errors.NotFound(this.message);
    if (this.errno === EACCES) return new Deno.errors.PermissionDenied(this.message);
    return this;
  }
}

/** A file opened by its raw name. */
export interface RawOpened {
  file: Deno.FsFile;
  info: Deno.FileInfo;
  /** Real path of the directory it was opened in (read from the opened directory). */
  directoryReal: string;
}

export interface RawFs {
  /** The names in `directory`, as bytes, `.` and `..` left out. */
  listNames(directory: string): Uint8Array[];
  /**
   * Opens `name` in `directory`: never through a link (a link is `RawFsError` with `isLink`), and
   * a FIFO is not waited on. What is not a regular file comes back with `file` undefined.
   */
  open(directory: string, name: Uint8Array): Promise<RawOpened | Omit<RawOpened, "file">>;
}

let loaded: RawFs | null | undefined;

/** The raw calls, or undefined where this process cannot make them. */
export function rawFs(): RawFs | undefined {
  if (loaded === undefined) loaded = load();
  return loaded ?? undefined;
}

function load(): RawFs | null {
  if (Deno.build.os !== "linux") return null;
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch {
    return null;
  }
  const c = lib.symbols;
  const encoder = new TextEncoder();
  const cString = (bytes: Uint8Array) => {
    const out = new Uint8Array(bytes.length + 1);
    out.set(bytes);
    return out;
  };
  const errno = () => new Deno.UnsafePointerView(c.__errno_location()!).getInt32();
  const openDirectory = (directory: string) => {
    const fd = c.open(cString(encoder.encode(directory)), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) throw new RawFsError("open", errno()).toDenoError();
    return fd;
  };

  return {
    listNames(directory) {
      const fd = openDirectory(directory);
      const dir = c.fdopendir(fd);
      if (dir === null) {
        const e = errno();
        c.close(fd);
        throw new RawFsError("fdopendir", e).toDenoError();
      }
      const names: Uint8Array[] = [];
      try {
        while (true) {
          const entry = c.readdir64(dir);
          if (entry === null) break;
          // struct dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
          const view = new Deno.UnsafePointerView(entry);
          const length = view.getUint16(16);
          const raw = new Uint8Array(view.getArrayBuffer(length - 19, 19));
          const name = raw.slice(0, raw.indexOf(0));
          if ((name.length === 1 || name.length === 2) && name.every((b) => b === 0x2e)) continue;
          names.push(name);
        }
      } finally {
        c.closedir(dir);
      }
      return names;
    },

    async open(directory, name) {
      const dirFd = openDirectory(directory);
      let fd = -1;
      try {
        const directoryReal = await Deno.realPath(`/proc/self/fd/${dirFd}`);
        fd = c.openat(dirFd, cString(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
        if (fd < 0) throw new RawFsError("openat", errno());
        const info = await Deno.stat(`/proc/self/fd/${fd}`);
        if (!info.isFile) return { info, directoryReal };
        const file = await Deno.open(`/proc/self/fd/${fd}`, { read: true });
        const reopened = await file.stat();
        if (reopened.dev !== info.dev || reopened.ino !== info.ino) {
          file.close();
          throw new Error("Cannot open file: /proc/self/fd gave another file");
        }
        return { file, info: reopened, directoryReal };
      } finally {
        if (fd >= 0) c.close(fd);
        c.close(dirFd);
      }
    },
  };
}
