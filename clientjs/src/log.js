// Logging as @microsoft/signalr does it, in the smallest form that fits the
// core's size budget: the `logger` option is a level (LogLevel, with
// @microsoft/signalr's names and numbers), for the console from that level up,
// or an object with log(level, message), its ILogger, which gets every message
// and filters by level itself. The client explains each transport fallback: the
// transport that failed, why, and the one tried next, at Warning. Normal
// operation logs nothing, so the default (the console from Information up)
// stays quiet until a transport fails.

/** The levels, with @microsoft/signalr's names and numbers. */
export const LogLevel = { Trace: 0, Debug: 1, Information: 2, Warning: 3, Error: 4, Critical: 5, None: 6 };

export const INFORMATION = 2, WARNING = 3;

/**
 * @typedef {{log(level: number, message: string): void}} Logger
 */

/**
 * The logger the `logger` option asks for: an object with a log method as it
 * is; else a level, for the console from that level up.
 * @param {Logger | number} [option]
 * @returns {Logger}
 */
export function logger(option = INFORMATION) {
  if (typeof option == 'object') return option;
  return {
    log(level, message) {
      if (level >= option) console.warn('hubbub: ' + message);
    },
  };
}
