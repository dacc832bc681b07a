/**
 * How Python (simplejson, which Ganeti's `serializer` uses) writes numbers and strings: the texts
 * plugboard must write back byte for byte (runtime/json.ts).
 */

/**
 * Python's `repr(float)` (also what simplejson writes for floats): shortest round-trip digits
 * (JS and Python agree on them: both use the shortest string that reads back to the same double,
 * rounding to the nearest when several are as short), with Python's layout: scientific notation
 * when the decimal exponent is < -4 or >= 16 (JS switches at -7 and 21), at least two exponent
 * digits (`1e-05`, `1e+16`), and `.0` after integral values.
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const [mant, expStr] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const decpt = Number(expStr) + 1;
  if (decpt <= -4 || decpt > 16) {
    const e = decpt - 1;
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const es = Math.abs(e).toString().padStart(2, '0');
    return `${sign}${m}e${e < 0 ? '-' : '+'}${es}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** How a JS number is written when no hint says otherwise: integral → Python int, else Python float. */
export function pyNumber(x: number): string {
  if (Number.isInteger(x) && !Object.is(x, -0)) return BigInt(x).toString();
  return pyFloatRepr(x);
}

// simplejson ESCAPE_ASCII: backslash, quote, and everything outside ' '..'~'.
// eslint-disable-next-line no-control-regex -- the control characters are what is escaped
const ESCAPE_ASCII = /[\\"\u0000-\u001f\u007f-\uffff]/g;
const SHORT_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '"': '\\"',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** simplejson `encode_basestring_ascii`: non-ASCII as lowercase `\uXXXX` (UTF-16 code units). */
export function pyString(s: string): string {
  return `"${s.replace(ESCAPE_ASCII, (ch) => SHORT_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}
