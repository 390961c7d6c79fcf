import assert from "node:assert/strict";
import { isPublicAddress } from "./private_address.ts";

Deno.test("isPublicAddress() refuses loopback, private, link-local, ULA and reserved ranges, IPv4 and IPv6", async (t) => {
  const refused = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456:789a::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "64:ff9b::10.0.0.1",
    "2002:c0a8:0101::1",
    "[::1]",
    "not an address",
    "1.2.3",
    "1.2.3.256",
  ];
  for (const a of refused) {
    await t.step(`refuses ${a}`, () => assert.equal(isPublicAddress(a), false));
  }
  const allowed = [
    "93.184.216.34",
    "8.8.8.8",
    "172.32.0.1",
    "100.128.0.1",
    "192.169.0.1",
    "2606:2800:220:1:248:1893:25c8:1946",
    "2a00:1450:4001:80b::200e",
    "::ffff:93.184.216.34",
    "64:ff9b::8.8.8.8",
    "2002:5db8:d822::1",
  ];
  for (const a of allowed) {
    await t.step(`allows ${a}`, () => assert.equal(isPublicAddress(a), true));
  }
});
