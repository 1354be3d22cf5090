import { readCaptureBatches, type CaptureBlock, type PcapngWriter, type ReadCaptureOptions, type SectionBlock } from '../pcap/index.js';

export interface InjectOptions extends ReadCaptureOptions {
  /** NSS key log text for the Decryption Secrets Block; empty: no DSB is added. */
  keyLogText: string;
  /** Drop the DSBs the input already has. */
  discardSecrets?: boolean;
  /** shb_userappl for a pcap input converted to pcapng. */
  userAppl?: string;
}

export interface InjectSummary {
  packets: number;
  sections: number;
  interfaces: number;
  secretsBlocksKept: number;
  secretsBlocksDiscarded: number;
  inputBytes: number;
  outputBytes: number;
}

/**
 * What `editcap --inject-secrets tls,FILE` does: the capture as pcapng with a DSB right after the first section
 * header (before any packet). A pcapng input is copied block for block as read, in its own byte order — packets,
 * options and unknown blocks untouched; a pcap input becomes one section with the interface its header describes.
 */
export async function injectSecrets(input: string | NodeJS.ReadableStream, writer: PcapngWriter, opts: InjectOptions): Promise<InjectSummary> {
  const summary: InjectSummary = { packets: 0, sections: 0, interfaces: 0, secretsBlocksKept: 0, secretsBlocksDiscarded: 0, inputBytes: 0, outputBytes: 0 };
  const secrets = Buffer.from(opts.keyLogText, 'utf8');
  const onProgress = opts.onProgress;
  const readOpts: ReadCaptureOptions = {
    ...opts,
    reuseChunks: true, // the writer copies every block before the next batch is read
    onProgress: (read, total) => {
      summary.inputBytes = read;
      onProgress?.(read, total);
    },
  };
  for await (const batch of readCaptureBatches(input, readOpts)) {
    for (const block of batch) copyBlock(block, writer, secrets, opts, summary);
    await writer.drain();
  }
  summary.outputBytes = writer.bytesWritten;
  return summary;
}

function copyBlock(block: CaptureBlock, writer: PcapngWriter, secrets: Buffer, opts: InjectOptions, summary: InjectSummary): void {
  switch (block.kind) {
    case 'section':
      writeSection(block, writer, opts);
      if (summary.sections++ === 0 && secrets.length > 0) writer.writeSecrets(secrets);
      return;
    case 'interface':
      summary.interfaces++;
      if (block.raw) writer.writeRaw(block.raw);
      else writer.writeInterface({ linkType: block.linkType, snapLength: block.snapLength, tsResolution: block.tsResolution });
      return;
    case 'packet':
      summary.packets++;
      if (block.interface.format === 'pcapng') writer.writeRawRange(block.buffer, block.rawOffset, block.rawOffset + block.rawLength);
      else writer.writeEnhancedPacket(0, block.timestampHigh, block.timestampLow, block.buffer, block.dataOffset, block.capturedLength, block.originalLength);
      return;
    case 'secrets':
      if (opts.discardSecrets) {
        summary.secretsBlocksDiscarded++;
        return;
      }
      summary.secretsBlocksKept++;
      writer.writeRaw(block.raw);
      return;
    case 'other':
      writer.writeRaw(block.raw);
  }
}

function writeSection(block: SectionBlock, writer: PcapngWriter, opts: InjectOptions): void {
  writer.littleEndian = block.littleEndian;
  if (block.format === 'pcap') {
    writer.writeSectionHeader(opts.userAppl === undefined ? {} : { userAppl: opts.userAppl });
    return;
  }
  // Blocks are added or dropped, so the section length is no longer known: -1 (the same in both byte orders).
  const shb = Buffer.from(block.raw);
  shb.writeBigInt64LE(-1n, 16);
  writer.writeRaw(shb);
}
