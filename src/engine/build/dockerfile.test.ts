import { describe, expect, it } from 'vitest';
import { parseDockerfile, splitWords } from './dockerfile.js';

describe('parseDockerfile', () => {
  it('joins continuation lines, drops comments inside them, keeps flags and JSON forms', () => {
    const df = parseDockerfile(
      [
        '# a comment',
        'FROM --platform=linux/amd64 busybox AS base',
        'RUN echo a \\',
        '  # comment inside a continuation',
        '  && echo b',
        'COPY --from=base --chown=1:2 ["a b", "/dst/"]',
        'cmd ["sh", "-c", "echo hi"]',
      ].join('\n'),
    );
    expect(df.instructions.map((i) => i.name)).toEqual(['FROM', 'RUN', 'COPY', 'CMD']);
    const [from, runI, copy, cmd] = df.instructions;
    expect(from!.flags).toEqual([{ name: 'platform', value: 'linux/amd64' }]);
    expect(from!.args).toBe('busybox AS base');
    expect(runI!.args).toBe('echo a   && echo b');
    expect(runI!.line).toBe(3);
    expect(copy!.flags.map((f) => f.name)).toEqual(['from', 'chown']);
    expect(copy!.json).toEqual(['a b', '/dst/']);
    expect(cmd!.json).toEqual(['sh', '-c', 'echo hi']);
  });

  it('honours the escape directive (backtick) and keeps backslashes literal then', () => {
    const df = parseDockerfile('# escape=`\nFROM scratch\nCOPY C:\\dir\\ `\n  /x\n');
    expect(df.escape).toBe('`');
    expect(df.instructions[1]!.args).toBe('C:\\dir\\   /x');
  });

  it('reads heredocs (plain, quoted, <<- with tabs stripped)', () => {
    const df = parseDockerfile('FROM busybox\nRUN <<EOF\necho one\necho $HOME\nEOF\nCOPY <<-"X" /f\n\tline\n\tX\nRUN true\n');
    const [, r, c, last] = df.instructions;
    expect(r!.heredocs).toEqual([{ name: 'EOF', content: 'echo one\necho $HOME\n', quoted: false, chomp: false }]);
    expect(c!.heredocs).toEqual([{ name: 'X', content: 'line\n', quoted: true, chomp: true }]);
    expect(last!.args).toBe('true');
  });

  it('rejects unknown instructions, unterminated heredocs and binary files with the line', () => {
    expect(() => parseDockerfile('FROM busybox\nFROBNICATE x\n')).toThrow(/line 2: unknown instruction: FROBNICATE/);
    expect(() => parseDockerfile('FROM busybox\nRUN <<EOF\necho\n')).toThrow(/unterminated heredoc EOF/);
    expect(() => parseDockerfile('FROM a\0b')).toThrow(/NUL/);
    expect(() => parseDockerfile('# escape=x\nFROM a')).toThrow(/invalid escape token/);
  });
});

describe('splitWords', () => {
  it('splits at unquoted whitespace, keeping quotes and escapes for expansion', () => {
    expect(splitWords(`a "b c" 'd e'f g\\ h`)).toEqual(['a', '"b c"', "'d e'f", 'g\\ h']);
    expect(splitWords('  ')).toEqual([]);
  });
});
