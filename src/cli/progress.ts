import { Transform, type TransformCallback } from 'node:stream';
import cliProgress from 'cli-progress';
import { humanSize } from './output.js';

/**
 * Counts bytes passing through and, on a terminal, draws a cli-progress bar on stderr
 * (total known: a bar with percent; unknown: a byte counter). Off a terminal it only counts.
 */
export function progressMeter(label: string, total: number | undefined, tty = process.stderr.isTTY === true): { stream: Transform; done(): void } {
  let bar: cliProgress.SingleBar | undefined;
  if (tty) {
    bar = new cliProgress.SingleBar(
      {
        format: total ? `${label} [{bar}] {percentage}% {done}/{size}` : `${label} {done}`,
        hideCursor: true,
        stream: process.stderr,
        barsize: 40,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total ?? 0, 0, { done: humanSize(0), size: humanSize(total ?? 0) });
  }
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _e, cb: TransformCallback) {
      n += chunk.length;
      bar?.update(total ? Math.min(n, total) : n, { done: humanSize(n), size: humanSize(total ?? n) });
      cb(null, chunk);
    },
  });
  return {
    stream,
    done: () => {
      if (bar) {
        bar.update(total ?? n, { done: humanSize(n), size: humanSize(total ?? n) });
        bar.stop();
      }
    },
  };
}
