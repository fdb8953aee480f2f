/**
 * Deterministic pseudo-random numbers from a 32-bit seed (mulberry32): the same seed gives
 * the same sequence on every platform, so sampled generations reproduce. Not for security.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform number in [0, 1) with 32 random bits. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A seed chosen from the current time and Math.random, for callers that give none. */
  static randomSeed(): number {
    return (Date.now() ^ Math.floor(Math.random() * 0x100000000)) >>> 0;
  }
}
