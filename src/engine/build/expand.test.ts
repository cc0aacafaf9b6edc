import { describe, expect, it } from 'vitest';
import { envLookup, parseKeyValues, processWord, setEnv } from './expand.js';

const env = envLookup(['A=1', 'EMPTY=', 'P=/usr/bin']);

describe('processWord (moby shell lexer rules)', () => {
  it('expands $X, ${X} and the modifiers', () => {
    expect(processWord('$A-${A}x', env)).toBe('1-1x');
    expect(processWord('${MISSING:-dflt} ${EMPTY:-e} ${EMPTY-e} ${A:+set} ${MISSING:+set}|', env)).toBe('dflt e  set |');
    expect(processWord('${MISSING-${A}}', env)).toBe('1');
    expect(() => processWord('${MISSING:?must be set}', env)).toThrow(/MISSING: must be set/);
    expect(() => processWord('${A', env)).toThrow(/missing '}'/);
  });

  it('single quotes are literal, double quotes expand, escapes work', () => {
    expect(processWord(`'$A' "$A" \\$A "a\\"b" "\\n"`, env)).toBe('$A 1 $A a"b \\n');
    expect(processWord('$1 $', env)).toBe('$1 $');
    expect(() => processWord('"open', env)).toThrow(/double-quote/);
  });

  it('collects the names it looked up (for the cache key)', () => {
    const used = new Set<string>();
    processWord('${A}${B:-x}', env, '\\', used);
    expect([...used].sort()).toEqual(['A', 'B']);
  });
});

describe('parseKeyValues', () => {
  it('ENV/LABEL key=value pairs with quotes, and the legacy "key value" form', () => {
    expect(parseKeyValues('X=$A Y="two words" Z=', 'ENV', env)).toEqual([
      { key: 'X', value: '1' },
      { key: 'Y', value: 'two words' },
      { key: 'Z', value: '' },
    ]);
    expect(parseKeyValues('NAME some value $A', 'ENV', env)).toEqual([{ key: 'NAME', value: 'some value 1' }]);
    expect(parseKeyValues('V B=2', 'ARG', env)).toEqual([
      { key: 'V', value: undefined },
      { key: 'B', value: '2' },
    ]);
    expect(() => parseKeyValues('=x', 'LABEL', env)).toThrow(/blank/);
    expect(() => parseKeyValues('', 'ENV', env)).toThrow(/at least one/);
  });

  it('setEnv replaces in place', () => {
    expect(setEnv(['A=1', 'B=2'], 'A', '3')).toEqual(['A=3', 'B=2']);
    expect(setEnv(['A=1'], 'C', '')).toEqual(['A=1', 'C=']);
  });
});
