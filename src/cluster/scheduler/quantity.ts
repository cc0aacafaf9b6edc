// Kubernetes resource quantities ("100m", "1.5", "128Mi", "1G", "2e3") to integers,
// exactly (BigInt arithmetic, rounded up like Kubernetes' Quantity.MilliValue/Value).
import { invalid } from '../../core/errors.js';

const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

/** The quantity scaled by 10^scale (scale 3 = milli units, 0 = base units), rounded up. */
export function parseQuantityScaled(q: string | number, scale: number, field = 'quantity'): number {
  const s = typeof q === 'number' ? String(q) : q.trim();
  const m = RE.exec(s);
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
    throw invalid(`${field}: invalid quantity ${JSON.stringify(q)}`, { field });
  }
  const neg = m[1] === '-';
  const intPart = m[2] ?? '';
  const frac = m[3] ?? '';
  let exp10 = 0;
  let mult = 1n;
  if (m[4] !== undefined) exp10 = Number(m[4].slice(1));
  else if (m[5] !== undefined) {
    if (m[5] in BINARY) mult = BINARY[m[5]]!;
    else exp10 = DECIMAL[m[5]]!;
  }
  let n = BigInt((intPart + frac).replace(/^0+(?=\d)/, '') || '0') * mult;
  let e = exp10 + scale - frac.length;
  if (e >= 0) n *= 10n ** BigInt(e);
  else {
    const d = 10n ** BigInt(-e);
    n = (n + d - 1n) / d; // round up
    e = 0;
  }
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${field}: quantity ${JSON.stringify(q)} too large`, { field });
  if (neg && n !== 0n) throw invalid(`${field}: quantity ${JSON.stringify(q)} must not be negative`, { field });
  return Number(n);
}

export const milliValue = (q: string | number, field?: string) => parseQuantityScaled(q, 3, field);
export const value = (q: string | number, field?: string) => parseQuantityScaled(q, 0, field);
