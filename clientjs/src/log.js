// Logging as @microsoft/signalr does it, in the smallest form that fits the
// core's size budget: the `logger` option is a level, a number with
// @microsoft/signalr's LogLevel numbering (the console from that level up), or
// an object with log(level, message), its ILogger, which gets every message and
// filters by level itself. The client explains each transport fallback: the
// transport that failed, why, and the one tried next, at Warning. Normal
// operation logs nothing, so the default (the console from Information up)
// stays quiet until a transport fails.

/** @microsoft/signalr's levels that the client uses. */
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
  return { log: (level, message) => level >= option && console.warn('hubbub: ' + message) };
}
