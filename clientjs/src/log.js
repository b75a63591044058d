// Logging as @microsoft/signalr does it: the `logger` option is a level (the
// console from that level up) or an object with log(level, message), its
// ILogger, which gets every message and filters by level itself. The client
// logs its decisions with their reasons: each transport that failed and the one
// tried next, the transport remembered for the origin, lost links, resumes and
// reconnect attempts. Normal operation logs nothing, so the default (the
// console from Information up) stays quiet until something goes wrong.

/** The levels, with @microsoft/signalr's names and numbers. */
export const LogLevel = { Trace: 0, Debug: 1, Information: 2, Warning: 3, Error: 4, Critical: 5, None: 6 };

export const INFORMATION = 2, WARNING = 3, ERROR = 4;

/**
 * @typedef {{log(level: number, message: string): void}} Logger
 */

/**
 * The logger the `logger` option asks for: an object with a log method as it
 * is; else a level, as a number or a LogLevel name in any case ('warning'),
 * for the console from that level up.
 * @param {Logger | number | string} [option]
 * @returns {Logger}
 */
export function logger(option = INFORMATION) {
  if (/** @type {any} */ (option)?.log) return /** @type {Logger} */ (option);
  const min = typeof option == 'number' ? option
    : Object.keys(LogLevel).findIndex((name) => name.toLowerCase() == String(option).toLowerCase());
  if (min < 0) throw new Error(`hubbub: unknown log level "${option}"`);
  return {
    log: (level, message) => level >= min && console[level > WARNING ? 'error' : level < WARNING ? 'log' : 'warn']('hubbub: ' + message),
  };
}
