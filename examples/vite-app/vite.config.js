import { defineConfig } from "vite";

// base "./": the built page works from any folder of a static server.
export default defineConfig({ base: "./", build: { target: "es2022" } });
