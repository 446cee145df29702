// The benchmark scripts' command line: `--name value` options and bare `--name` flags.
'use strict';

const args = process.argv.slice(2);
/** The value after `--name`, or `dflt` when the option is absent. */
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const flag = (name) => args.includes(`--${name}`);

module.exports = { args, opt, flag };
