#!/usr/bin/env node
import { run } from './program.js';

// Exit explicitly: a provider handle left open must not keep a finished command alive.
process.exit(await run(process.argv));
