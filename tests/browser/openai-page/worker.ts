// The worker side of the worker-engine check: Mnemo's engine served from a module worker.
import { loadModel, serveWorkerEngine, type EnginePort } from "../../../src/index.js";

serveWorkerEngine(self as unknown as EnginePort, loadModel);
