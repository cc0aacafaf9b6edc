import { describe, expect, it } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import { parsePsOutput, psArgv, top } from './top.js';

const PS_EF = `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 07:18 ?        00:01:32 /sbin/init
root        6041    6029  0 10:16 ?        00:00:00 sleep 1000
1000        6050    6041  0 10:16 pts/0    00:00:00 sh -c echo a   b
`;

describe('top', () => {
  it('keeps only the container PIDs; the last column keeps its spaces', () => {
    const r = parsePsOutput(PS_EF, [6041, 6050]);
    expect(r.Titles).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    expect(r.Processes).toEqual([
      ['root', '6041', '6029', '0', '10:16', '?', '00:00:00', 'sleep 1000'],
      ['1000', '6050', '6041', '0', '10:16', 'pts/0', '00:00:00', 'sh -c echo a   b'],
    ]);
  });

  it('finds PID in any column (-o comm,pid) and refuses output without one', () => {
    expect(parsePsOutput('COMMAND PID\nsleep 6041\ninit 1\n', [6041]).Processes).toEqual([['sleep', '6041']]);
    expect(() => parsePsOutput('COMMAND\nsleep\n', [1])).toThrow(/PID field/);
  });

  it('default ps_args is -ef; a failing ps is an error carrying its message', async () => {
    expect(psArgv('')).toEqual(['-ef']);
    expect(psArgv(' aux  ')).toEqual(['aux']);
    const err = await top([1], '--bogus', () => Promise.resolve({ code: 1, signal: null, stdout: '', stderr: 'error: unknown gnu long option\n' })).catch((e: unknown) => e);
    expect(isWharfError(err, 'Internal')).toBe(true);
    expect((err as Error).message).toBe('ps: exit status 1: error: unknown gnu long option');
  });
});
