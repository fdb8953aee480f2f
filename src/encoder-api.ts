// The public encoder API: loadEncoder() and Encoder (BERT and sentence encoders in its
// layout): sentence embeddings on the GPU and masked-token filling.
import { createGpu, type Gpu } from "./gpu/device.js";
import { MnemoError, throwIfAborted } from "./errors.js";
import type { FileProgress, Integrity } from "./loading/cache.js";
import { readJson } from "./loading/file-set.js";
import { resolveModelFiles, type ModelSource } from "./loading/model-files.js";
import type { BertModel, EncoderInfo } from "./models/bert.js";
import { loadBert, type EncoderWeightType } from "./models/bert-load.js";
import type { Pooling } from "./kernels/pool.js";
import { runEncoder } from "./runtime/encode.js";
import { documentStore, searchDocumentStore, type DocumentHit } from "./runtime/document-search.js";
import type { KnnStoreData } from "./memory/store-file.js";
import type { WordPieceTokenizer } from "./tokenizers/wordpiece.js";

/** Options of {@link loadEncoder}. */
export interface LoadEncoderOptions {
  /** How the matrices are kept on the GPU (default "f32"; LayerNorms and biases stay f32). */
  weightType?: EncoderWeightType;
  /** A GPUDevice to share; otherwise the encoder gets its own and destroys it on dispose(). */
  device?: GPUDevice;
  /** Cache downloaded files in Cache Storage (browsers; default true). */
  cache?: boolean;
  /** Download progress per file. */
  onProgress?: (progress: FileProgress) => void;
  /** Aborts the download or the load (ABORTED). */
  signal?: AbortSignal;
  /** Expected SHA-256 of files, by file name. */
  integrity?: Readonly<Record<string, Integrity>>;
}

/** Options of {@link Encoder.embed}. */
export interface EmbedOptions {
  /**
   * "mean" (default): the mean of every piece's last hidden state; "cls": the [CLS] piece's;
   * "pooler": BertModel's pooler (tanh of a dense layer on [CLS]).
   */
  pooling?: Pooling | "pooler";
  /** Divide each mean or [CLS] vector by its L2 norm (default true; the pooler's output is never normalised). */
  normalize?: boolean;
}

/** One candidate for a masked piece, as transformers.js's fill-mask pipeline gives it. */
export interface FillMaskCandidate {
  /** Its probability at that position. */
  score: number;
  /** The piece's id. */
  token: number;
  /** The piece. */
  tokenStr: string;
  /** The text with this candidate in that mask's place (other masks left as they are). */
  sequence: string;
}

/** Rows one forward holds at most; longer batches are split. */
const MAX_BATCH_ROWS = 4096;

/** Encoder information plus the adapter it runs on. */
export interface PublicEncoderInfo extends EncoderInfo {
  /** The GPU adapter ("vendor architecture"). */
  adapter: string;
}

/** A loaded BERT encoder on the GPU: {@link loadEncoder} makes one; dispose() frees it. */
export class Encoder {
  private disposed = false;

  /** @internal */
  constructor(
    private readonly model: BertModel,
    private readonly ownsGpu: boolean,
  ) {}

  /** What the encoder is: sizes, weight type, heads, GPU bytes, adapter. */
  get info(): PublicEncoderInfo {
    const a = this.model.gpu.adapter;
    return { ...this.model.info, adapter: `${a.vendor} ${a.architecture}`.trim() };
  }

  /** Its WordPiece tokenizer. */
  get tokenizer(): WordPieceTokenizer {
    return this.model.tokenizer;
  }

  private check(): void {
    if (this.disposed) throw new MnemoError("DISPOSED", "This encoder was disposed.");
  }

  /**
   * One vector per text, computed on the GPU in as few forwards as fit (texts are packed
   * without padding). A text longer than the model's positions (max_position_embeddings,
   * [CLS] and [SEP] included) is truncated to them, as sentence-transformers does.
   */
  async embed(texts: string | readonly string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    this.check();
    const list = typeof texts === "string" ? [texts] : texts;
    if (list.length === 0) throw new MnemoError("BAD_INPUT", "embed() needs at least one text.");
    const pooling = options.pooling ?? "mean";
    if (pooling !== "mean" && pooling !== "cls" && pooling !== "pooler") throw new MnemoError("BAD_INPUT", `pooling must be "mean", "cls" or "pooler", got ${JSON.stringify(pooling)}.`);
    const normalize = pooling !== "pooler" && (options.normalize ?? true);
    const maxLength = this.model.info.maxPositions;
    const encoded = list.map((t, i) => {
      if (typeof t !== "string") throw new MnemoError("BAD_INPUT", `Text ${i} is not a string.`);
      return this.tokenizer.encode(t, { maxLength }).ids;
    });
    const H = this.model.info.hiddenSize;
    const out: Float32Array[] = [];
    for (let start = 0; start < encoded.length; ) {
      let rows = 0;
      let end = start;
      while (end < encoded.length && (end === start || rows + encoded[end].length <= MAX_BATCH_ROWS)) rows += encoded[end++].length;
      const r = await runEncoder(this.model, { ids: encoded.slice(start, end) }, { pooling, normalize });
      for (let s = 0; s < end - start; s++) out.push(r.pooled!.slice(s * H, (s + 1) * H));
      start = end;
    }
    return out;
  }

  /**
   * The `topK` likeliest pieces at each [MASK] of `text` (a masked-LM checkpoint only), in
   * the order the masks appear. A text over the model's positions is refused (CONTEXT_FULL):
   * cutting it could cut a mask.
   */
  async fillMask(text: string, options: { topK?: number } = {}): Promise<FillMaskCandidate[][]> {
    this.check();
    const topK = options.topK ?? 5;
    const tok = this.tokenizer;
    if (!Number.isInteger(topK) || topK < 1 || topK > tok.vocabSize) throw new MnemoError("BAD_INPUT", `topK must be an integer in 1..${tok.vocabSize}, got ${topK}.`);
    if (tok.maskId === undefined) throw new MnemoError("UNSUPPORTED_MODEL", "This tokenizer has no [MASK] token.");
    const ids = tok.encode(text).ids;
    const masks = ids.flatMap((id, i) => (id === tok.maskId ? [i] : []));
    if (masks.length === 0) throw new MnemoError("BAD_INPUT", `fillMask() needs a text with ${tok.decode([tok.maskId], { skipSpecialTokens: false })} in it.`);
    if (ids.length > this.model.info.maxPositions) {
      throw new MnemoError("CONTEXT_FULL", `The text is ${ids.length} pieces; this model takes at most ${this.model.info.maxPositions}.`);
    }
    const r = await runEncoder(this.model, { ids: [ids] }, { maskedLm: true });
    const V = tok.vocabSize;
    return masks.map((row) => {
      const logits = r.maskedLmLogits!.subarray(row * V, (row + 1) * V);
      let max = -Infinity;
      for (const v of logits) max = Math.max(max, v);
      let sum = 0;
      for (const v of logits) sum += Math.exp(v - max);
      const best = Array.from(logits.keys())
        .sort((a, b) => logits[b] - logits[a] || a - b)
        .slice(0, topK);
      return best.map((id) => {
        const filled = ids.slice();
        filled[row] = id;
        return { score: Math.exp(logits[id] - max) / sum, token: id, tokenStr: tok.decode([id], { skipSpecialTokens: false }), sequence: tok.decode(filled) };
      });
    });
  }

  /**
   * A searchable store of `documents`: their unit vectors (mean pooling, or `pooling`) in the
   * memory-store format (save it with encodeMemoryStore / saveMemoryStoreFile), document i
   * under value i.
   */
  async indexDocuments(documents: readonly string[], options: { pooling?: Pooling } = {}): Promise<KnnStoreData> {
    const vectors = await this.embed(documents, { pooling: options.pooling ?? "mean", normalize: true });
    return documentStore(this.model.info.fingerprint, vectors);
  }

  /**
   * The `k` documents of `store` (from {@link indexDocuments}) most similar to `query`, by
   * cosine similarity, searched on the GPU. The store must come from this encoder.
   */
  async search(store: KnnStoreData, query: string, options: { k?: number; pooling?: Pooling } = {}): Promise<DocumentHit[]> {
    this.check();
    if (store.fingerprint !== this.model.info.fingerprint) {
      throw new MnemoError("BAD_INPUT", "This store was built by a different encoder (its fingerprint differs): its vectors cannot be compared with this one's.");
    }
    const [q] = await this.embed(query, { pooling: options.pooling ?? "mean", normalize: true });
    return searchDocumentStore(this.model.gpu, store, q, options.k ?? 5);
  }

  /** Frees the GPU buffers (and the device, unless it was passed in). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
    if (this.ownsGpu) this.model.gpu.destroy();
  }
}

/**
 * Loads a BERT encoder (Hugging Face BertModel or BertForMaskedLM safetensors with their
 * WordPiece tokenizer; sentence encoders in BERT's layout such as all-MiniLM-L6-v2). `source`
 * is what {@link loadModel} takes: a folder path (Node), a URL, Files, or buffers by name.
 */
export async function loadEncoder(source: ModelSource, options: LoadEncoderOptions = {}): Promise<Encoder> {
  throwIfAborted(options.signal);
  const files = await resolveModelFiles(source, { cache: options.cache, onProgress: options.onProgress, signal: options.signal, integrity: options.integrity });
  throwIfAborted(options.signal);
  let gpu: Gpu;
  try {
    gpu = await createGpu({ device: options.device });
  } catch (e) {
    throw e instanceof MnemoError ? e : new MnemoError("NO_WEBGPU", String(e), { cause: e });
  }
  try {
    const config = await readJson(files, "config.json");
    if (config === null) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: no config.json.`);
    const model = await gpu.allocateChecked("the encoder's weights", () => loadBert(gpu, files, config, { weightType: options.weightType }));
    if (options.signal?.aborted) {
      model.dispose();
      throwIfAborted(options.signal);
    }
    return new Encoder(model, !options.device);
  } catch (e) {
    if (!options.device) gpu.destroy();
    throw e;
  } finally {
    await files.close?.();
  }
}
