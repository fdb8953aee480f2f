import { defineConfig } from "vite";

// Module workers: Mnemo's bundle splits into chunks, which classic (iife) workers cannot load.
export default defineConfig({ base: "./", worker: { format: "es" }, build: { target: "es2022" } });
