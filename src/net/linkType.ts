/** Link-layer header types (tcpdump.org/linktypes.html) that gokeylog captures and decodes. */
export const LinkType = {
  /** BSD loopback: 4-byte address family in the writer's byte order. */
  NULL: 0,
  ETHERNET: 1,
  /** Raw IP, version from the first nibble (the LINKTYPE value; DLT_RAW is 12 or 14 on some systems). */
  RAW: 101,
  /** OpenBSD loopback: 4-byte address family in network byte order. */
  LOOP: 108,
  /** Linux "cooked" capture v1 (tcpdump -i any before libpcap 1.10, dumpcap). */
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  /** Linux "cooked" capture v2 (tcpdump -i any with libpcap ≥ 1.10). */
  LINUX_SLL2: 276,
} as const;
export type LinkType = (typeof LinkType)[keyof typeof LinkType];
