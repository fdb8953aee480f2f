// Messages between the page and the worker.

/** Page → worker. */
export type ToWorker = { type: "load"; url: string } | { type: "generate"; prompt: string; maxTokens: number };

/** Worker → page. */
export type FromWorker =
  | { type: "progress"; file: string; loaded: number }
  | { type: "ready"; description: string }
  | { type: "token"; text: string }
  | { type: "done"; tokens: number }
  | { type: "error"; code: string; message: string };
