import { wgsl } from "wgsl-preprocessor/wgsl-preprocessor.js";
import { WGSL_SOURCES } from "./wgsl.generated.js";
import { MnemoError } from "../errors.js";

/** Compile-time switches for a WGSL file's `#if NAME` / `#elif NAME` blocks. */
export type ShaderDefines = Readonly<Record<string, boolean>>;

const directive = /#(if|elif)\s+([A-Za-z_][A-Za-z0-9_]*)/g;
const include = /^[ \t]*#include[ \t]+(\S+)[ \t]*$/gm;

/**
 * Returns the WGSL text of `shaders/<file>.wgsl` with its `#if NAME` blocks resolved by
 * wgsl-preprocessor. Files name their switches (`#if WEIGHTS_F16`); we turn each name into
 * the template value wgsl-preprocessor expects. An unknown name is an error, not `false`,
 * so a typo cannot silently select the wrong variant. A line `#include common/<name>` is
 * replaced first by `shaders/common/<name>.wgsl` (snippets shared by kernels; they include
 * nothing themselves).
 */
export function shaderSource(file: string, defines: ShaderDefines = {}): string {
  const text = withIncludes(file);
  const strings: string[] = [];
  const values: boolean[] = [];
  let last = 0;
  for (const m of text.matchAll(directive)) {
    const name = m[2];
    if (!(name in defines)) {
      throw new MnemoError("INTERNAL", `shaders/${file}.wgsl uses #${m[1]} ${name}, which the caller did not define.`);
    }
    strings.push(text.slice(last, m.index! + m[1].length + 2)); // up to and including "#if "
    values.push(defines[name]);
    last = m.index! + m[0].length;
  }
  strings.push(text.slice(last));
  const raw = Object.assign([...strings], { raw: strings }) as unknown as TemplateStringsArray;
  return wgsl(raw, ...values);
}

/** The text of `shaders/<file>.wgsl` with its `#include common/<name>` lines replaced. */
function withIncludes(file: string): string {
  const text = WGSL_SOURCES[file];
  if (text === undefined) throw new MnemoError("INTERNAL", `No shader file shaders/${file}.wgsl.`);
  return text.replace(include, (_line, name: string) => {
    const snippet = name.startsWith("common/") ? WGSL_SOURCES[name] : undefined;
    if (snippet === undefined) {
      throw new MnemoError("INTERNAL", `shaders/${file}.wgsl includes ${name}, which is not a snippet in shaders/common/.`);
    }
    if (/^[ \t]*#include/m.test(snippet)) {
      throw new MnemoError("INTERNAL", `shaders/${name}.wgsl includes another file; snippets may not nest.`);
    }
    return snippet;
  });
}
