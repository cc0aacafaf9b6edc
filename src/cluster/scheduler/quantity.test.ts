import { describe, expect, it } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import { milliValue, value } from './quantity.js';

describe('quantities', () => {
  it('parses CPU to milli-units exactly', () => {
    expect(milliValue('100m')).toBe(100);
    expect(milliValue('1')).toBe(1000);
    expect(milliValue('0.1')).toBe(100);
    expect(milliValue('1.5')).toBe(1500);
    expect(milliValue(2)).toBe(2000);
    expect(milliValue('0.0001')).toBe(1); // rounded up like Kubernetes
    expect(milliValue('1k')).toBe(1_000_000);
  });
  it('parses memory to bytes with binary, decimal and exponent suffixes', () => {
    expect(value('128Mi')).toBe(128 * 2 ** 20);
    expect(value('1Gi')).toBe(2 ** 30);
    expect(value('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(value('1G')).toBe(1e9);
    expect(value('500M')).toBe(5e8);
    expect(value('2e3')).toBe(2000);
    expect(value('1P')).toBe(1e15);
    expect(value('12345')).toBe(12345);
  });
  it('rejects garbage and negative quantities with the field named', () => {
    for (const bad of ['abc', '1Qi', '', '--1', '1.2.3', '-1']) {
      try {
        value(bad, 'spec.containers[0].resources.requests.memory');
        expect.unreachable(`accepted ${bad}`);
      } catch (e) {
        expect(isWharfError(e, 'InvalidArgument')).toBe(true);
        expect((e as Error).message).toContain('spec.containers[0].resources.requests.memory');
      }
    }
  });
});
