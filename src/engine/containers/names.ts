import { randomInt } from 'node:crypto';
import { invalid } from '../../core/errors.js';

// Container names as Docker accepts them, and Docker-style random names.

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Strips a leading '/', rejecting what Docker rejects. */
export function normalizeName(name: string): string {
  if (!NAME_RE.test(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.startsWith('/') ? name.slice(1) : name;
}

const LEFT = ['admiring', 'brave', 'calm', 'eager', 'focused', 'gallant', 'happy', 'jolly', 'keen', 'lucid', 'modest', 'nifty', 'quirky', 'relaxed', 'serene', 'tender', 'upbeat', 'vibrant', 'wizardly', 'zealous'];
const RIGHT = ['archimedes', 'babbage', 'curie', 'darwin', 'euclid', 'fermat', 'galileo', 'hopper', 'kepler', 'lovelace', 'meitner', 'noether', 'pascal', 'ritchie', 'shannon', 'thompson', 'turing', 'volta', 'wozniak', 'yonath'];

export function randomName(taken: (n: string) => boolean): string {
  for (let i = 0; i < 50; i++) {
    const n = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}${i > 5 ? randomInt(100) : ''}`;
    if (!taken(n)) return n;
  }
  return `wharf_${randomInt(1e9)}`;
}
