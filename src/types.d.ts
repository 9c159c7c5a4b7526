// Wasm files are imported as compiled modules: workerd forbids compiling wasm from bytes.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
declare module 'argon2id/lib/setup.js' {
  import type { computeHash } from 'argon2id';
  type Loader = (imports: WebAssembly.Imports) => Promise<{ module: WebAssembly.Module; instance: WebAssembly.Instance }>;
  export default function setupWasm(simd: Loader, noSimd: Loader): Promise<computeHash>;
}
