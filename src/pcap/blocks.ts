/** What the capture reader yields: one value per pcapng block, or per pcap header/record. */

/** pcapng block types (draft-ietf-opsawg-pcapng). */
export const BlockType = {
  SECTION_HEADER: 0x0a0d0d0a,
  INTERFACE_DESCRIPTION: 0x00000001,
  /** Obsolete Packet Block, still found in old files. */
  PACKET: 0x00000002,
  SIMPLE_PACKET: 0x00000003,
  NAME_RESOLUTION: 0x00000004,
  INTERFACE_STATISTICS: 0x00000005,
  ENHANCED_PACKET: 0x00000006,
  DECRYPTION_SECRETS: 0x0000000a,
} as const;

/** Decryption Secrets Block type for an NSS key log ("TLSK"). */
export const SECRETS_TYPE_TLS_KEY_LOG = 0x544c534b;

/** A pcapng option: code and value bytes (a view into the block). */
export interface PcapngOption {
  code: number;
  value: Uint8Array;
}

/** A timestamp unit of base^-exponent seconds (pcapng if_tsresol; pcap: 10^-6 or 10^-9). */
export interface TimestampResolution {
  base: 10 | 2;
  exponent: number;
}

export interface SectionBlock {
  kind: 'section';
  format: 'pcap' | 'pcapng';
  /** Byte offset of the block in the input. */
  offset: number;
  littleEndian: boolean;
  majorVersion: number;
  minorVersion: number;
  /** pcapng options (shb_hardware, shb_os, shb_userappl, comments); empty for pcap. */
  options: PcapngOption[];
  /** The pcapng SHB or the 24-byte pcap file header, as read. */
  raw: Uint8Array;
}

export interface InterfaceBlock {
  kind: 'interface';
  format: 'pcap' | 'pcapng';
  offset: number;
  /** Index within its section (packets refer to it). */
  interfaceId: number;
  linkType: number;
  snapLength: number;
  tsResolution: TimestampResolution;
  /** pcapng if_tsoffset: seconds added to every timestamp of this interface. */
  tsOffsetSeconds: bigint;
  name?: string;
  options: PcapngOption[];
  /** The IDB as read; absent for the interface a pcap header describes. */
  raw?: Uint8Array;
}

export interface SecretsBlock {
  kind: 'secrets';
  offset: number;
  secretsType: number;
  data: Uint8Array;
  raw: Uint8Array;
}

/** Blocks passed through without interpretation: statistics, name resolution, custom and unknown blocks. */
export interface OtherBlock {
  kind: 'other';
  offset: number;
  blockType: number;
  raw: Uint8Array;
}

export interface PacketBlock {
  kind: 'packet';
  /** EPB, SPB, obsolete PB, or 0 for a pcap record. */
  blockType: number;
  offset: number;
  interfaceId: number;
  linkType: number;
  interface: InterfaceBlock;
  /** The interface's timestamp unit (the same as `interface.tsResolution`). */
  readonly tsResolution: TimestampResolution;
  /** Nanoseconds since the epoch (sub-nanosecond resolutions are truncated). */
  readonly timestamp: bigint;
  /** The timestamp exactly as stored, in units of `interface.tsResolution` (for lossless rewriting). */
  readonly timestampUnits: bigint;
  /** The same as pcapng's two 32-bit halves, for hot loops that want no BigInt per packet. */
  readonly timestampHigh: number;
  readonly timestampLow: number;
  /** The captured bytes. */
  readonly data: Uint8Array;
  /** The chunk `data` lives in, and where: for hot loops that want no view per packet. */
  buffer: Buffer;
  dataOffset: number;
  capturedLength: number;
  originalLength: number;
  /** opt_comment values, if any. */
  readonly comments: string[] | undefined;
  /** The packet's pcapng options (EPB/PB only). */
  readonly options: PcapngOption[];
  /** The block (pcapng) or record (pcap) as read. */
  readonly raw: Uint8Array;
  /** Where `raw` lives in `buffer`. */
  rawOffset: number;
  rawLength: number;
}

export type CaptureBlock = SectionBlock | InterfaceBlock | SecretsBlock | OtherBlock | PacketBlock;
