#!/usr/bin/env node
// The package's bin: the agent is compiled with the rest of the repository (npm run build).
import "../../dist/edge-agent/src/cli.js";
