/** Options shared by the remote-control commands (inspect, control, status). Celery waits 1 s for replies. */
import { Option } from 'commander';
import { commaList, secondsToMs } from './parse.js';

export interface RemoteOptions {
  /** Milliseconds. */
  timeout: number;
  destination?: string[];
  json?: boolean;
}

export function timeoutOption(): Option {
  return new Option('-t, --timeout <seconds>', 'how long to wait for replies').argParser(secondsToMs).default(1000, '1');
}

export function destinationOption(): Option {
  return new Option('-d, --destination <nodes>', 'comma-separated node names (default: every worker)').argParser(commaList);
}

export function jsonOption(): Option {
  return new Option('-j, --json', 'print the replies as JSON');
}
