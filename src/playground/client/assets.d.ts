// Stylesheets are bundled by esbuild (into playground.css); to TypeScript they are side-effect imports.
declare module '*.css';
