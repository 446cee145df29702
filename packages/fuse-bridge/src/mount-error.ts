/**
 * A mount that cannot go ahead. The message is one line that says what is wrong and what to do;
 * `usage` marks errors in what the user typed (the CLI exits 2 for those, 1 for the rest).
 */
export class MountError extends Error {
  readonly usage: boolean;
  constructor(message: string, opts: { usage?: boolean } = {}) {
    super(message);
    this.name = 'MountError';
    this.usage = opts.usage ?? false;
  }
}
