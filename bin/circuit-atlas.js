#!/usr/bin/env node
// The circuit-atlas command. The TypeScript sources run through tsx, so there is no build step
// between editing and running; `npm run typecheck` checks them.
import { register } from 'tsx/esm/api';

register();
await import('@circuit-atlas/server/cli');
