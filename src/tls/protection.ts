import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual, type Cipher, type CipherGCMTypes } from 'node:crypto';
import { OpenedAhead, RecordBatch } from './batchOpen.js';
import { MAC_LENGTH, type BulkCipher, type MacHash } from './suites.js';

/** A decrypted record: its real content type and plaintext (a fresh buffer). */
export interface OpenedRecord {
  type: number;
  plaintext: Buffer;
}

/** One direction's record protection; each call consumes one sequence number. */
export interface RecordDecryptor {
  /** null when the record does not authenticate (wrong keys or corrupted bytes). */
  open(type: number, version: number, header: Uint8Array, body: Uint8Array): OpenedRecord | null;
}

const TAG_LENGTH = 16;
/** One options object for every record's decipher (one is created per record). */
const AEAD_OPTIONS = { authTagLength: TAG_LENGTH } as const;

/**
 * TLS 1.3 AEAD (RFC 8446 §5.2): nonce = iv XOR seq, AAD = record header, inner type after the content.
 * A connection joined mid-stream starts at the sequence number its key was read with (`seq`).
 */
export class Tls13Decryptor implements RecordDecryptor {
  /** Rewritten for each record: the cipher copies its nonce when it is created. */
  readonly #nonce = Buffer.allocUnsafe(12);
  readonly #cipher: BulkCipher;
  readonly #key: Buffer;
  readonly #iv: Buffer;
  #seq: number;
  /** AES-ECB under this key, for the keystream of records opened in batches (made at the first batch). */
  #ecb: Cipher | undefined;
  /** Records opened ahead of their turn (see batchOpen.ts). */
  #ahead: OpenedAhead | null = null;
  constructor(
    cipher: BulkCipher,
    key: Buffer,
    iv: Buffer,
    seq = 0,
  ) {
    this.#cipher = cipher;
    this.#key = key;
    this.#iv = iv;
    this.#seq = seq;
  }

  /** The sequence number the next record is opened with. */
  get nextSeq(): number {
    return this.#seq;
  }

  open(_type: number, _version: number, header: Uint8Array, body: Uint8Array): OpenedRecord | null {
    const seq = this.#seq++;
    const ahead = this.#ahead;
    if (ahead) {
      const opened = ahead.take(seq, body);
      if (!ahead.covers(this.#seq)) this.#ahead = null;
      if (opened) return opened;
    }
    return this.openAt(seq, header, body);
  }

  /**
   * The records that follow (from the next sequence number), to be opened together before their turn comes
   * (batchOpen.ts); null for ChaCha20-Poly1305. `open` then hands each one out when it is that record's turn.
   */
  batch(): { add(bytes: Uint8Array, at: number, bodyLength: number): void; done(): void } | null {
    if (this.#cipher !== 'aes-128-gcm' && this.#cipher !== 'aes-256-gcm') return null;
    this.#ecb ??= createCipheriv(this.#cipher === 'aes-128-gcm' ? 'aes-128-ecb' : 'aes-256-ecb', this.#key, null).setAutoPadding(false);
    const batch = new RecordBatch(this.#cipher, this.#key, this.#iv, this.#ecb, this.#seq);
    return {
      add: (bytes, at, bodyLength) => batch.add(bytes, at, bodyLength),
      done: () => void (this.#ahead = batch.open()),
    };
  }

  /** Opens a record at an explicit sequence number, leaving the running one alone (mid-stream alignment). */
  openAt(seq: number, header: Uint8Array, body: Uint8Array): OpenedRecord | null {
    const plaintext = aeadOpen(this.#cipher, this.#key, xorSequence(this.#iv, seq, this.#nonce), header, body);
    if (!plaintext) return null;
    let end = plaintext.length - 1;
    while (end >= 0 && plaintext[end] === 0) end--; // zero padding
    if (end < 0) return null;
    return { type: plaintext[end]!, plaintext: plaintext.subarray(0, end) };
  }
}

/**
 * TLS 1.2 AEAD: AES-GCM with a 4-byte implicit and 8-byte explicit nonce (RFC 5288), or ChaCha20-Poly1305
 * with nonce = iv XOR seq (RFC 7905). AAD = seq, type, version, plaintext length.
 */
export class Tls12AeadDecryptor implements RecordDecryptor {
  #seq = 0;
  readonly #cipher: BulkCipher;
  readonly #key: Buffer;
  readonly #iv: Buffer;
  constructor(
    cipher: BulkCipher,
    key: Buffer,
    iv: Buffer,
  ) {
    this.#cipher = cipher;
    this.#key = key;
    this.#iv = iv;
  }

  open(type: number, version: number, _header: Uint8Array, body: Uint8Array): OpenedRecord | null {
    const seq = this.#seq++;
    let nonce: Buffer;
    if (this.#cipher === 'chacha20-poly1305') {
      nonce = xorSequence(this.#iv, seq);
    } else {
      if (body.length < 8) return null;
      nonce = Buffer.concat([this.#iv, body.subarray(0, 8)]);
      body = body.subarray(8);
    }
    // Shorter than its tag: no record a peer sent (the AAD's length would be negative).
    if (body.length < TAG_LENGTH) return null;
    const aad = additionalData(seq, type, version, body.length - TAG_LENGTH);
    const plaintext = aeadOpen(this.#cipher, this.#key, nonce, aad, body);
    return plaintext ? { type, plaintext } : null;
  }
}

/**
 * TLS 1.2 CBC with a per-record explicit IV (RFC 5246 §6.2.3.2): MAC-then-encrypt, or encrypt-then-MAC when
 * the extension was negotiated (RFC 7366; OpenSSL peers do, Go does not).
 */
export class Tls12CbcDecryptor implements RecordDecryptor {
  #seq = 0;
  readonly #macLength: number;
  readonly #blockSize: number;
  readonly #cipher: BulkCipher;
  readonly #key: Buffer;
  readonly #mac: MacHash;
  readonly #macKey: Buffer;
  readonly #encryptThenMac: boolean;
  constructor(
    cipher: BulkCipher,
    key: Buffer,
    mac: MacHash,
    macKey: Buffer,
    encryptThenMac: boolean,
  ) {
    this.#cipher = cipher;
    this.#key = key;
    this.#mac = mac;
    this.#macKey = macKey;
    this.#encryptThenMac = encryptThenMac;
    this.#macLength = MAC_LENGTH[mac];
    this.#blockSize = cipher === 'des-ede3-cbc' ? 8 : 16;
  }

  open(type: number, version: number, _header: Uint8Array, body: Uint8Array): OpenedRecord | null {
    const seq = this.#seq++;
    if (this.#encryptThenMac) {
      if (body.length < this.#macLength) return null;
      const protectedLength = body.length - this.#macLength;
      const ciphertext = body.subarray(0, protectedLength);
      if (!this.#macMatches(seq, type, version, ciphertext, body.subarray(protectedLength))) return null;
      const padded = this.#decrypt(ciphertext);
      const contentLength = padded ? unpaddedLength(padded) : -1;
      return padded && contentLength >= 0 ? { type, plaintext: padded.subarray(0, contentLength) } : null;
    }
    const padded = this.#decrypt(body);
    if (!padded) return null;
    const contentLength = unpaddedLength(padded) - this.#macLength;
    if (contentLength < 0) return null;
    const content = padded.subarray(0, contentLength);
    const mac = padded.subarray(contentLength, contentLength + this.#macLength);
    return this.#macMatches(seq, type, version, content, mac) ? { type, plaintext: content } : null;
  }

  /** IV (one block) then ciphertext, decrypted with the padding left in place; null when malformed. */
  #decrypt(body: Uint8Array): Buffer | null {
    const block = this.#blockSize;
    if (body.length < 2 * block || body.length % block !== 0) return null;
    try {
      const decipher = createDecipheriv(this.#cipher, this.#key, body.subarray(0, block)).setAutoPadding(false);
      return Buffer.concat([decipher.update(body.subarray(block)), decipher.final()]);
    } catch {
      return null;
    }
  }

  #macMatches(seq: number, type: number, version: number, data: Uint8Array, mac: Uint8Array): boolean {
    const expected = createHmac(this.#mac, this.#macKey).update(additionalData(seq, type, version, data.length)).update(data).digest();
    return mac.length === expected.length && timingSafeEqual(expected, mac);
  }
}

/** Length before the TLS CBC padding (every padding byte holds the padding length), or -1 if it is invalid. */
function unpaddedLength(padded: Buffer): number {
  const padLength = padded[padded.length - 1]!;
  const end = padded.length - 1 - padLength;
  if (end < 0) return -1;
  for (let i = end; i < padded.length - 1; i++) if (padded[i] !== padLength) return -1;
  return end;
}

function aeadOpen(cipher: BulkCipher, key: Buffer, nonce: Buffer, aad: Uint8Array, body: Uint8Array): Buffer | null {
  if (body.length < TAG_LENGTH) return null;
  const split = body.length - TAG_LENGTH;
  try {
    const decipher = createDecipheriv(cipher as CipherGCMTypes, key, nonce, AEAD_OPTIONS);
    decipher.setAAD(aad);
    decipher.setAuthTag(body.subarray(split));
    const plaintext = decipher.update(body.subarray(0, split));
    decipher.final(); // throws when the tag does not match
    return plaintext;
  } catch {
    return null;
  }
}

/** The 12-byte IV with the 64-bit record sequence number XORed into its last 8 bytes, written into `nonce`. */
function xorSequence(iv: Buffer, seq: number, nonce: Buffer = Buffer.allocUnsafe(12)): Buffer {
  iv.copy(nonce, 0, 0, 4);
  const high = Math.floor(seq / 0x1_0000_0000);
  nonce.writeUInt32BE((iv.readUInt32BE(4) ^ high) >>> 0, 4);
  nonce.writeUInt32BE((iv.readUInt32BE(8) ^ seq) >>> 0, 8);
  return nonce;
}

function additionalData(seq: number, type: number, version: number, length: number): Buffer {
  const aad = Buffer.alloc(13);
  aad.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), 0);
  aad.writeUInt32BE(seq >>> 0, 4);
  aad[8] = type;
  aad.writeUInt16BE(version, 9);
  aad.writeUInt16BE(length, 11);
  return aad;
}
