/**
 * Which IP addresses a web source may connect to: public unicast only. Loopback, private
 * (RFC 1918), carrier-grade NAT, link-local (cloud metadata at 169.254.169.254), unique-local
 * IPv6, multicast, documentation and reserved ranges are refused, and IPv6 forms that embed an
 * IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.
 */

type Range = [base: bigint, prefix: number];

const V4_BLOCKED: [string, number][] = [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local (cloud metadata)
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
];

const V6_BLOCKED: [string, number][] = [
  ["::", 128], // unspecified
  ["::1", 128], // loopback
  ["100::", 64], // discard
  ["2001::", 23], // IETF protocol assignments (Teredo, ORCHID...)
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
];

const v4Ranges: Range[] = V4_BLOCKED.map(([a, p]) => [parseIPv4(a)!, p]);
const v6Ranges: Range[] = V6_BLOCKED.map(([a, p]) => [parseIPv6(a)!, p]);

/** Whether `address` (IPv4 or IPv6 text, an IPv6 zone allowed) is a public unicast address. */
export function isPublicAddress(address: string): boolean {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return !inAny(v4, 32, v4Ranges);
  const v6 = parseIPv6(address.replace(/^\[|\]$/g, "").replace(/%.*$/, ""));
  if (v6 === undefined) return false;
  const embedded = embeddedIPv4(v6);
  if (embedded !== undefined) return !inAny(embedded, 32, v4Ranges);
  return !inAny(v6, 128, v6Ranges);
}

/** The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 address. */
function embeddedIPv4(v6: bigint): bigint | undefined {
  const top96 = v6 >> 32n;
  const low32 = v6 & 0xffffffffn;
  if (top96 === 0xffffn) return low32; // ::ffff:a.b.c.d
  if (top96 === 0n && low32 > 1n) return low32; // ::a.b.c.d (deprecated compatible)
  if (top96 === 0x0064ff9b0000000000000000n) return low32; // 64:ff9b::/96 NAT64
  if (top96 >> 32n === 0x0064ff9b0001n) return low32; // 64:ff9b:1::/48 local NAT64
  if (v6 >> 112n === 0x2002n) return (v6 >> 80n) & 0xffffffffn; // 2002:aabb:ccdd::/16 6to4
  return undefined;
}

function inAny(value: bigint, bits: number, ranges: Range[]): boolean {
  return ranges.some(([base, prefix]) => {
    const shift = BigInt(bits - prefix);
    return value >> shift === base >> shift;
  });
}

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIPv6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.split("::").length > 2) return undefined;
  let tail = text;
  let v4Tail: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    v4Tail = parseIPv4(text.slice(lastColon + 1));
    if (v4Tail === undefined) return undefined;
    tail = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = tail.split("::") as [string, string | undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const missing = 8 - left.length - right.length;
  if (rest === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...left, ...Array(rest === undefined ? 0 : missing).fill("0"), ...right];
  let value = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    value = (value << 16n) | BigInt(parseInt(g, 16));
  }
  if (v4Tail !== undefined) value = (value & ~0xffffffffn) | v4Tail;
  return value;
}

/**
 * The A and AAAA addresses of `hostname` (either may be missing); throws the A lookup's error when
 * neither answered.
 */
export async function resolveWithDns(hostname: string): Promise<string[]> {
  const [v4, v6] = await Promise.allSettled([
    Deno.resolveDns(hostname, "A"),
    Deno.resolveDns(hostname, "AAAA"),
  ]);
  const addresses = [
    ...(v4.status === "fulfilled" ? v4.value : []),
    ...(v6.status === "fulfilled" ? v6.value : []),
  ];
  if (addresses.length === 0 && v4.status === "rejected") throw v4.reason;
  return addresses;
}
