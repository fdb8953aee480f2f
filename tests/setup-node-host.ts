// Tests run in Node against the sources: install the Node host (Dawn, model paths) as the
// package's Node entry does.
import { installNodeHost } from "../src/host.js";
import { NODE_HOST } from "../src/node-host.js";

installNodeHost(NODE_HOST);
