// Stop strings as OpenAI applies them: generation ends at the first occurrence of any of
// them, which is not returned. Streamed text that could be the start of a stop string is
// held back until the next pieces decide it.

export class StopText {
  private pending = "";
  /** True once a stop string was found; nothing more is released. */
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Adds a piece of generated text; returns the text that can be released now. */
  push(piece: string): string {
    if (this.stopped) return "";
    this.pending += piece;
    let cut = -1;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = "";
      return out;
    }
    const keep = this.heldBack();
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return out;
  }

  /** At the end of generation: whatever was held back (it was no stop string after all). */
  flush(): string {
    const out = this.stopped ? "" : this.pending;
    this.pending = "";
    return out;
  }

  /** Length of the longest end of the pending text that begins some stop string. */
  private heldBack(): number {
    let keep = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > keep; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    return keep;
  }
}
