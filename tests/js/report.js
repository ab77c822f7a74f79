// The scripts' side of the conversation with pytest: one JSON object per line on stdout.
// Anything unexpected is reported as an `error` line too, so the test fails with the reason
// instead of waiting for an event that will never come.

export function report(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

function crash(error) {
  report("error", { message: String(error && error.stack ? error.stack : error) });
  process.exit(1);
}

process.on("uncaughtException", crash);
process.on("unhandledRejection", crash);

/** The value of `--name=value` on the command line, or `fallback`. */
export function option(name, fallback) {
  const prefix = `--${name}=`;
  const found = process.argv.find((arg) => arg.startsWith(prefix));
  if (found !== undefined) return found.slice(prefix.length);
  if (fallback === undefined) crash(new Error(`missing --${name}`));
  return fallback;
}
