/**
 * `metadata.name` of the object in a create's request body, as the API server's audit names a created
 * object (its objectRef has no name from the path). JSON bodies, and Kubernetes protobuf bodies: the
 * "k8s\0" magic, then a runtime.Unknown whose field 2 (raw) is the object, whose field 1 is its ObjectMeta,
 * whose field 1 is the name. Anything else (YAML, CBOR, a truncated body) has no name here.
 */

const PROTOBUF_MAGIC = Buffer.from('k8s\0', 'latin1');

export function createdObjectName(contentType: string | undefined, body: Uint8Array): string | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/vnd.kubernetes.protobuf') return protobufName(body);
  if (type === 'application/json' || type === '') return jsonName(body);
  return undefined;
}

function jsonName(body: Uint8Array): string | undefined {
  try {
    const object = JSON.parse(Buffer.from(body).toString('utf8')) as { metadata?: { name?: unknown } } | null;
    const name = object?.metadata?.name;
    return typeof name === 'string' && name !== '' ? name : undefined;
  } catch {
    return undefined;
  }
}

function protobufName(body: Uint8Array): string | undefined {
  if (body.length < PROTOBUF_MAGIC.length || !PROTOBUF_MAGIC.equals(body.subarray(0, PROTOBUF_MAGIC.length))) return undefined;
  const raw = field(body.subarray(PROTOBUF_MAGIC.length), 2);
  const meta = raw && field(raw, 1);
  const name = meta && field(meta, 1);
  return name && name.length > 0 ? Buffer.from(name).toString('utf8') : undefined;
}

/** The bytes of the first length-delimited field `number` of a protobuf message, bounds-checked. */
function field(message: Uint8Array, number: number): Uint8Array | undefined {
  let pos = 0;
  while (pos < message.length) {
    const key = varint(message, pos);
    if (!key) return undefined;
    pos = key.next;
    const wireType = key.value % 8;
    const fieldNumber = Math.floor(key.value / 8);
    switch (wireType) {
      case 0: {
        const v = varint(message, pos);
        if (!v) return undefined;
        pos = v.next;
        break;
      }
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2: {
        const length = varint(message, pos);
        if (!length || length.next + length.value > message.length) return undefined;
        if (fieldNumber === number) return message.subarray(length.next, length.next + length.value);
        pos = length.next + length.value;
        break;
      }
      default: return undefined; // groups (3, 4) are not used by Kubernetes; anything else is not protobuf
    }
  }
  return undefined;
}

/** A varint of up to 7 bytes (lengths and keys fit; larger values are not a name's), or undefined. */
function varint(bytes: Uint8Array, start: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 7 && start + i < bytes.length; i++) {
    const b = bytes[start + i]!;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return { value, next: start + i + 1 };
  }
  return undefined;
}
