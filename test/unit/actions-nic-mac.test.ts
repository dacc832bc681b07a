/**
 * MAC addresses of hot-added NICs (src/actions/mac.ts): Ganeti's syntax, unicast only, generated
 * MACs deterministic per UUID, with the instance's prefix, and never one the instance already has.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAC_PREFIX, generateMac, macPrefixFor, macProblem, normalizeMac } from '../../src/actions/mac.js';
import { InputError } from '../../src/errors.js';
import { parseRuntimeText } from '../../src/runtime/load.js';

const rfWithMacs = (macs: string[]) =>
  parseRuntimeText(
    JSON.stringify([
      ['/usr/bin/kvm', '-name', 'web1'],
      macs.map((mac, i) => ({ mac, nicparams: { mode: 'bridged', link: 'br0' }, uuid: `0000000${i}-0000-4000-8000-000000000000`, hvinfo: {} })),
      { nic_type: 'paravirtual' },
      [],
    ]),
    'conf/web1.runtime',
    'web1',
  );

describe('macProblem / normalizeMac', () => {
  it('accepts six hex pairs with ":" in any case and stores them lower-case', () => {
    expect(macProblem('aa:00:00:12:34:56')).toBeNull();
    expect(normalizeMac('AA:00:00:Ab:cD:eF')).toBe('aa:00:00:ab:cd:ef');
  });

  it.each([
    ['aa:00:00:12:34', /not a MAC address/],
    ['aa:00:00:12:34:56:78', /not a MAC address/],
    ['aa-00-00-12-34-56', /not a MAC address/],
    ['aa0000123456', /not a MAC address/],
    ['gg:00:00:12:34:56', /not a MAC address/],
    ['01:00:5e:00:00:fb', /multicast/],
    ['ff:ff:ff:ff:ff:ff', /multicast/],
    ['00:00:00:00:00:00', /all-zero/],
  ])('refuses %s', (mac, re) => {
    expect(macProblem(mac)).toMatch(re);
    expect(() => normalizeMac(mac)).toThrow(InputError);
    expect(() => normalizeMac(mac)).toThrow(new RegExp(`^--mac ${mac}: `));
  });
});

describe('generateMac', () => {
  it('any UUID, any taken set: a valid unicast MAC with the prefix, not taken, the same every time', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.uniqueArray(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)), { maxLength: 20 }), (uuid, bytes) => {
        const taken = new Set(bytes.map((b) => `aa:00:00:${b.map((x) => x.toString(16).padStart(2, '0')).join(':')}`));
        // Take the first choice too, so the "next attempt" path runs.
        taken.add(generateMac(uuid, new Set(), DEFAULT_MAC_PREFIX));
        const mac = generateMac(uuid, taken);
        expect(macProblem(mac)).toBeNull();
        expect(mac.startsWith('aa:00:00:')).toBe(true);
        expect(taken.has(mac)).toBe(false);
        expect(generateMac(uuid, taken)).toBe(mac);
      }),
    );
  });

  it('a multicast or malformed prefix is refused', () => {
    expect(() => generateMac('0c0ffee0-1234-4abc-8def-0123456789ab', new Set(), '01:00:5e')).toThrow(/MAC prefix 01:00:5e/);
    expect(() => generateMac('0c0ffee0-1234-4abc-8def-0123456789ab', new Set(), 'aa:00')).toThrow(InputError);
  });
});

describe('macPrefixFor', () => {
  it("the prefix all the instance's NICs share; otherwise Ganeti's default aa:00:00", () => {
    expect(macPrefixFor(rfWithMacs(['52:54:00:00:00:01', '52:54:00:00:00:02'])).prefix).toBe('52:54:00');
    expect(macPrefixFor(rfWithMacs(['52:54:00:00:00:01', 'aa:00:00:00:00:02'])).prefix).toBe(DEFAULT_MAC_PREFIX);
    expect(macPrefixFor(rfWithMacs([])).prefix).toBe(DEFAULT_MAC_PREFIX);
  });
});
