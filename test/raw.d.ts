// Vite's `?raw` imports: a file's text (wrangler.toml, public/_headers) checked by tests.
declare module '*?raw' {
  const text: string;
  export default text;
}
