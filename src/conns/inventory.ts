import { describeCertificate, type CertificateInfo } from '../tls/index.js';
import { findCipherSuite } from '../tls/suites.js';
import type { ConnLayout } from './layout.js';
import { readSliceBytes, readU16, readU64, type MemoryReader } from './memory.js';
import type { Endpoint } from '../net/index.js';
import { ipToString } from '../probe/sockets.js';

/** What one live *tls.Conn holds, read from the process's memory with one layout. */
export interface ConnFacts {
  conn: bigint;
  isClient: boolean;
  vers: number;
  cipherSuite: number;
  serverName: string;
  alpn: string;
  /** The netFD's socket descriptor and the addresses Go recorded for it. */
  fd: number;
  local: Endpoint;
  remote: Endpoint;
  /** The peer's chain as Go keeps it (peerCertificates), leaf first: DER of each. */
  peerCertificates: Uint8Array[];
  peerCertificate: CertificateInfo | null;
}

/**
 * A read that does not hold together: the layout is wrong for this binary, or (`closed`) the Conn is a valid
 * TLS Conn whose connection is gone (its netFD closed or freed since the hit: short-lived clients).
 */
export interface Refusal {
  refused: string;
  closed?: true;
}

const TLS_VERSIONS = new Set([0x0301, 0x0302, 0x0303, 0x0304]);
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
/** Bounds on what is read through a pointer of the target: longer is not a real value. */
const MAX_CHAIN = 16;
const MAX_DER = 64 * 1024;
const MAX_NAME = 1024;

/**
 * Reads and validates one Conn: TLS version ∈ TLS versions, a known cipher suite of that version, in.version =
 * out.version = vers, a TCP netFD (AF_INET/AF_INET6, SOCK_STREAM) whose addresses are IPs with ports, a
 * certificate chain of bounded length whose DER parses. Anything else refuses, naming the first check that failed.
 */
export function readConn(mem: MemoryReader, conn: bigint, layout: ConnLayout): ConnFacts | Refusal {
  const at = (offset: number): bigint => conn + BigInt(offset);
  const L = layout.conn;
  const vers = readU16(mem, at(L.vers));
  if (vers === undefined) return { refused: `the Conn at 0x${conn.toString(16)} is not readable` };
  if (!TLS_VERSIONS.has(vers)) return { refused: `vers is 0x${vers.toString(16)}, not a TLS version` };
  const cipherSuite = readU16(mem, at(L.cipherSuite));
  const suite = cipherSuite === undefined ? undefined : findCipherSuite(cipherSuite);
  if (!suite || suite.tls13 !== (vers === 0x0304)) return { refused: `cipherSuite 0x${(cipherSuite ?? 0).toString(16)} is not a known suite of TLS 0x${vers.toString(16)}` };
  for (const [name, base] of [['in', L.in], ['out', L.out]] as const) {
    const v = readU16(mem, at(base + layout.halfConn.version));
    if (v !== vers) return { refused: `${name}.version 0x${(v ?? 0).toString(16)} differs from vers 0x${vers.toString(16)}` };
  }
  const isClient = mem.read(at(L.isClient), 1);
  if (!isClient || isClient[0]! > 1) return { refused: 'isClient is not a bool' };
  // The TLS state held together: what fails from here on is a connection that closed since its hit.
  const socket = readSocket(mem, conn, layout);
  if ('refused' in socket) return { ...socket, closed: true };
  const chain = readChain(mem, at(L.peerCertificates), layout);
  if ('refused' in chain) return chain;
  const serverName = readSliceBytes(mem, at(L.serverName), MAX_NAME);
  const alpn = readSliceBytes(mem, at(L.clientProtocol), MAX_NAME);
  if (!serverName || !alpn) return { refused: 'serverName or clientProtocol is not a string' };
  const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
  return {
    conn, isClient: isClient[0] === 1, vers, cipherSuite: cipherSuite!, serverName: text(serverName), alpn: text(alpn),
    ...socket, peerCertificates: chain.ders, peerCertificate: chain.ders.length > 0 ? describeCertificate(chain.ders[0]!) : null,
  };
}

/** How many wrappers around the *net.TCPConn are looked through (cmux.MuxConn in etcd, proxy-protocol conns, …). */
const MAX_WRAPPERS = 3;

/**
 * conn (a net.Conn interface {itab, data}) → *net.TCPConn → *netFD: descriptor, family, type, addresses. A
 * wrapper whose first field is itself a net.Conn (etcd's cmux.MuxConn embeds one) is looked through: its data
 * is tried as the next interface. Each candidate netFD must hold together (TCP family and type, addresses),
 * and the caller matches it against the kernel's socket, so a wrong reading is refused, never reported.
 */
function readSocket(mem: MemoryReader, conn: bigint, layout: ConnLayout): { fd: number; local: Endpoint; remote: Endpoint } | Refusal {
  let data = readU64(mem, conn + BigInt(layout.conn.conn) + 8n);
  let why = 'conn does not lead to a netFD';
  for (let depth = 0; data && depth <= MAX_WRAPPERS; depth++) {
    const netFD = readU64(mem, data + BigInt(layout.tcpConnFd));
    const socket = netFD ? readNetFD(mem, netFD, layout) : { refused: why };
    if (!('refused' in socket)) return socket;
    why = socket.refused;
    data = readU64(mem, data + 8n); // the embedded net.Conn's data word
  }
  return { refused: why };
}

function readNetFD(mem: MemoryReader, netFD: bigint, layout: ConnLayout): { fd: number; local: Endpoint; remote: Endpoint } | Refusal {
  const word = (offset: number): bigint | undefined => readU64(mem, netFD + BigInt(offset));
  const family = word(layout.netFD.family);
  const sotype = word(layout.netFD.sotype);
  if ((family !== BigInt(AF_INET) && family !== BigInt(AF_INET6)) || sotype !== BigInt(SOCK_STREAM)) {
    return { refused: `the netFD is not a TCP socket (family ${family}, type ${sotype})` };
  }
  // Sysfd is a Go int; a live descriptor is small and not negative.
  const sysfd = word(layout.netFD.sysfd);
  if (sysfd === undefined || sysfd > 1n << 31n) return { refused: `the netFD's descriptor ${sysfd} is not one` };
  const local = readTcpAddr(mem, netFD + BigInt(layout.netFD.laddr), layout);
  const remote = readTcpAddr(mem, netFD + BigInt(layout.netFD.raddr), layout);
  if (!local || !remote) return { refused: 'laddr or raddr is not a TCP address' };
  return { fd: Number(sysfd), local, remote };
}

/** A net.Addr interface whose data is a *net.TCPAddr {IP []byte, Port int, Zone string}. */
function readTcpAddr(mem: MemoryReader, iface: bigint, layout: ConnLayout): Endpoint | undefined {
  const addr = readU64(mem, iface + 8n);
  if (!addr) return undefined;
  const ip = readSliceBytes(mem, addr + BigInt(layout.tcpAddr.ip), 16);
  const port = readU64(mem, addr + BigInt(layout.tcpAddr.port));
  if (!ip || (ip.length !== 4 && ip.length !== 16) || port === undefined || port > 65535n) return undefined;
  return { ip: ipToString(ip), port: Number(port) };
}

function readChain(mem: MemoryReader, header: bigint, layout: ConnLayout): { ders: Uint8Array[] } | Refusal {
  const ptr = readU64(mem, header);
  const len = readU64(mem, header + 8n);
  if (ptr === undefined || len === undefined || len > BigInt(MAX_CHAIN)) return { refused: `peerCertificates has ${len} entries` };
  const ders: Uint8Array[] = [];
  for (let i = 0n; i < len; i++) {
    const cert = readU64(mem, ptr + 8n * i);
    const der = cert ? readSliceBytes(mem, cert + BigInt(layout.certificateRaw), MAX_DER) : undefined;
    if (!der || der.length === 0) return { refused: `peerCertificates[${i}] has no DER` };
    if (i === 0n && !describeCertificate(der)) return { refused: 'the peer certificate\'s DER does not parse' };
    ders.push(der);
  }
  return { ders };
}
