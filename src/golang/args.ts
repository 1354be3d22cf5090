import type { GoAbi, GoArch } from './version.js';

/** Where an argument is at function entry: a pt_regs/tracefs register name, or a byte offset from SP. */
export type ArgLocation = { register: string } | { stackOffset: number };

export interface WriteKeyLogArgs {
  labelPtr: ArgLocation;
  labelLen: ArgLocation;
  clientRandomPtr: ArgLocation;
  clientRandomLen: ArgLocation;
  secretPtr: ArgLocation;
  secretLen: ArgLocation;
}

const registers = (names: string[]): WriteKeyLogArgs => {
  const [labelPtr, labelLen, clientRandomPtr, clientRandomLen, secretPtr, secretLen] = names.map((register) => ({ register }));
  return { labelPtr: labelPtr!, labelLen: labelLen!, clientRandomPtr: clientRandomPtr!, clientRandomLen: clientRandomLen!, secretPtr: secretPtr!, secretLen: secretLen! };
};

/**
 * writeKeyLog(c *Config, label string, clientRandom, secret []byte): with the register ABI the receiver takes
 * the first integer register and each string/slice word the next ones (the slices' cap included); with ABI0
 * everything is on the stack above the return address (same offsets on arm64, where 0(SP) holds LR's slot).
 */
export function writeKeyLogArgs(arch: GoArch, abi: GoAbi): WriteKeyLogArgs {
  if (abi === 'register') {
    // amd64: c=ax, label=bx/cx, clientRandom=di/si/r8, secret=r9/r10/r11. arm64: x0..x8 in the same order.
    return arch === 'amd64' ? registers(['bx', 'cx', 'di', 'si', 'r9', 'r10']) : registers(['x1', 'x2', 'x3', 'x4', 'x6', 'x7']);
  }
  return {
    labelPtr: { stackOffset: 16 },
    labelLen: { stackOffset: 24 },
    clientRandomPtr: { stackOffset: 32 },
    clientRandomLen: { stackOffset: 40 },
    secretPtr: { stackOffset: 56 },
    secretLen: { stackOffset: 64 },
  };
}
