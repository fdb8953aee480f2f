// Draft tokens from the context itself (prompt-lookup decoding): when the last few tokens
// occurred earlier in the context, what followed them there is a guess at what follows now.
// Plain CPU code over token ids; the verifier decides what is kept.

/** How drafts are looked up in the context. */
export interface ContextDraftOptions {
  /** Longest suffix of the context that is matched (tried first). */
  maxMatch: number;
  /** Shortest suffix that counts as a match. */
  minMatch: number;
}

// A one-token match is right too rarely to pay for its verification (measured on the gpt2-gutenberg
// fixture continuations: most one-token drafts were rejected, most longer ones accepted).
export const DEFAULT_CONTEXT_DRAFT: ContextDraftOptions = { maxMatch: 4, minMatch: 2 };

/**
 * Up to `count` tokens that followed the most recent earlier occurrence of the context's
 * longest matching suffix (`maxMatch` down to `minMatch` tokens long). Empty when no suffix of
 * at least `minMatch` tokens occurred before, or when `count` is 0.
 */
export function draftFromContext(tokens: readonly number[], count: number, options: ContextDraftOptions = DEFAULT_CONTEXT_DRAFT): number[] {
  const n = tokens.length;
  if (count <= 0 || n < 2) return [];
  for (let len = Math.min(options.maxMatch, n - 1); len >= options.minMatch; len--) {
    // The latest earlier occurrence: recent text is the likeliest to repeat.
    for (let start = n - len - 1; start >= 0; start--) {
      if (matchesSuffix(tokens, start, len)) {
        const from = start + len;
        return tokens.slice(from, Math.min(from + count, n)) as number[];
      }
    }
  }
  return [];
}

/** Whether tokens[start..start+len) equals the last `len` tokens. */
function matchesSuffix(tokens: readonly number[], start: number, len: number): boolean {
  const tail = tokens.length - len;
  for (let i = 0; i < len; i++) if (tokens[start + i] !== tokens[tail + i]) return false;
  return true;
}

/** What a memory store holds, as the CPU sees it: the token at each entry and the token after it. */
export interface MemoryEntryTokens {
  readonly entryInputs: ArrayLike<number>;
  readonly entryValues: ArrayLike<number>;
  /** Entries filled; the slots form a ring of `entryValues.length` (a growing store wraps). */
  readonly entries: number;
}

/**
 * Drafts from a memory store (retrieval drafting, in the manner of REST): `neighbours` are
 * the entries nearest the hidden state that produced `last` (nearest first). The first of
 * them whose next token is `last` sits at the same point of a stored text, and up to
 * `count` tokens of what follows it there are the draft: the next tokens of entries that
 * continue it (an entry continues the one before when its token is that one's next token;
 * a store of several documents breaks there). Empty when no neighbour agrees.
 */
export function draftFromMemory(neighbours: ArrayLike<number>, last: number, store: MemoryEntryTokens, count: number): number[] {
  const slots = store.entryValues.length;
  for (let n = 0; n < neighbours.length && count > 0; n++) {
    const e = neighbours[n];
    if (e >= store.entries || store.entryValues[e] !== last) continue;
    const draft: number[] = [];
    for (let at = e, next = (e + 1) % slots; draft.length < count && next < store.entries && next !== e; at = next, next = (next + 1) % slots) {
      if (store.entryInputs[next] !== store.entryValues[at]) break;
      draft.push(store.entryValues[next]);
    }
    if (draft.length > 0) return draft;
  }
  return [];
}
