import { describe, expect, it } from 'vitest';
import { CHANNEL, decodeChannel, encodeChannel, exitStatus, headerList, parseResize, selectProtocol, splitJsonObjects } from './channel-protocol.js';

describe('remote-command channel framing', () => {
  it('prefixes the channel byte and splits it off again', () => {
    const m = encodeChannel(CHANNEL.stdout, 'hi\n');
    expect([...m]).toEqual([1, 0x68, 0x69, 0x0a]);
    expect(decodeChannel(m)).toEqual({ channel: 1, data: Buffer.from('hi\n') });
    expect(decodeChannel(Buffer.from([255, 0]))).toEqual({ channel: CHANNEL.close, data: Buffer.from([0]) });
    expect(decodeChannel(Buffer.alloc(0))).toBeUndefined();
  });

  it('negotiates in the client order among what Wharf speaks', () => {
    const ours = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
    expect(selectProtocol(headerList('v5.channel.k8s.io'), ours)).toBe('v5.channel.k8s.io');
    expect(selectProtocol(headerList('v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io'), ours)).toBe('v4.channel.k8s.io');
    expect(selectProtocol(headerList(['channel.k8s.io', 'base64.channel.k8s.io']), ours)).toBeUndefined();
  });

  it('reads terminal sizes and refuses nonsense', () => {
    expect(parseResize(Buffer.from('{"Width":80,"Height":24}'))).toEqual({ rows: 24, cols: 80 });
    expect(parseResize('{"Width":-1,"Height":24}')).toBeUndefined();
    expect(parseResize('not json')).toBeUndefined();
    expect(splitJsonObjects('{"Width":80,"Height":24}\n{"Width":100,"Height":3')).toEqual({ objects: ['{"Width":80,"Height":24}'], rest: '{"Width":100,"Height":3' });
    expect(splitJsonObjects('{"a":"}{"}{"b":1}')).toEqual({ objects: ['{"a":"}{"}', '{"b":1}'], rest: '' });
  });

  it('reports exit codes as kubectl expects them', () => {
    expect(exitStatus(0)).toEqual({ metadata: {}, status: 'Success' });
    expect(exitStatus(7, ['sh', '-c', 'exit 7'])).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '7' }] },
    });
  });
});
