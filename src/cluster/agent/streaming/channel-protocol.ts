// Kubernetes' remote-command channel protocol over WebSocket (`v5.channel.k8s.io`,
// `v4.channel.k8s.io`): every binary message is one channel byte followed by data. Channels: 0
// stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status in JSON, written once when the process
// ends), 4 resize (JSON {"Width","Height"}); v5 adds 255, "close": [255, N] half-closes channel
// N (kubectl sends [255, 0] when its stdin ends). Pure functions; the sockets are the server's.

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** Remote-command subprotocols Wharf speaks, most preferred first. */
export const REMOTE_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

/** The Status kubectl reads from the error channel (and from a SPDY error stream, protocol v4+). */
export interface ExecStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason: string; message: string }[] };
}

/** The first protocol of `offered` (the client's order) that Wharf supports. */
export function selectProtocol(offered: Iterable<string>, supported: readonly string[]): string | undefined {
  for (const p of offered) if (supported.includes(p.trim())) return p.trim();
  return undefined;
}

/** Splits a comma-separated header (Sec-WebSocket-Protocol, X-Stream-Protocol-Version). */
export function headerList(value: string | string[] | undefined): string[] {
  const all = Array.isArray(value) ? value.join(',') : (value ?? '');
  return all.split(',').map((s) => s.trim()).filter(Boolean);
}

export function encodeChannel(channel: number, data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  body.copy(out, 1);
  return out;
}

export function decodeChannel(message: Buffer): { channel: number; data: Buffer } | undefined {
  if (message.length === 0) return undefined;
  return { channel: message[0]!, data: message.subarray(1) };
}

/** A terminal size from the resize channel, or undefined when it is not one. */
export function parseResize(data: Buffer | string): { rows: number; cols: number } | undefined {
  try {
    const j = JSON.parse(data.toString()) as { Width?: unknown; Height?: unknown };
    const cols = Number(j.Width);
    const rows = Number(j.Height);
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 0 || rows < 0 || cols > 65535 || rows > 65535) return undefined;
    return { rows, cols };
  } catch {
    return undefined;
  }
}

/**
 * Splits a SPDY resize stream (a sequence of JSON objects, as Go's json.Encoder writes them)
 * into complete objects; returns them and the unparsed rest.
 */
export function splitJsonObjects(buffered: string): { objects: string[]; rest: string } {
  const objects: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < buffered.length; i++) {
    const c = buffered[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' && depth > 0) {
      depth--;
      if (depth === 0) {
        objects.push(buffered.slice(start, i + 1));
        start = -1;
      }
    }
  }
  return { objects, rest: start >= 0 ? buffered.slice(start) : '' };
}

/** The Status for a finished command, as the kubelet writes it (kubectl turns it into its own exit code). */
export function exitStatus(exitCode: number, command: readonly string[] = []): ExecStatus {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** A failure that is not an exit code (the command could not run, the container went away). */
export function errorStatus(message: string): ExecStatus {
  return { metadata: {}, status: 'Failure', message };
}
