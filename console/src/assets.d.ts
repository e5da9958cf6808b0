/** esbuild bundles the imported stylesheet into its own hashed .css file (scripts/bundle-console.ts). */
declare module "*.css";
