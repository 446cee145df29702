// Namespaced logging. Libraries never print: they log to a sink the application installs (the CLI
// installs stderr). Debug lines are dropped unless debug is on; warnings go to the sink whenever one
// is installed.
export type LogSink = (line: string) => void;

let sink: LogSink | undefined;
let debugOn = false;
const warnedOnce = new Set<string>();

export function setLogSink(s: LogSink | undefined, opts: { debug?: boolean } = {}): void {
  sink = s;
  debugOn = opts.debug ?? false;
}

export function isDebugEnabled(): boolean {
  return debugOn && sink !== undefined;
}

export interface Logger {
  debug(msg: string): void;
  warn(msg: string): void;
  /** A warning said at most once per process for `key`. */
  warnOnce(key: string, msg: string): void;
}

export function createLogger(namespace: string): Logger {
  return {
    debug: (msg) => {
      if (debugOn && sink) sink(`layerfs: ${namespace}: ${msg}`);
    },
    warn: (msg) => {
      sink?.(`layerfs: ${namespace}: warning: ${msg}`);
    },
    warnOnce: (key, msg) => {
      if (warnedOnce.has(key)) return;
      warnedOnce.add(key);
      sink?.(`layerfs: ${namespace}: warning: ${msg}`);
    },
  };
}
