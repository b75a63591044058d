// The reconnect policy: exponential backoff with jitter. Every delay, the
// first one too, has a floor above zero, so a server that drops each new
// connection at once never turns the client into a tight loop.

/**
 * @typedef {object} ReconnectPolicy
 * @property {number} [delay=500] base delay of the first attempt, ms
 * @property {number} [maxDelay=15000] cap for the base delay, ms
 * @property {number} [factor=2] growth of the base delay per attempt
 * @property {number} [jitter=0.5] share of the delay that is random: the delay lies in [base*(1-jitter), base]
 * @property {number} [retries=Infinity] attempts before giving up
 */

/** The smallest delay ever returned, whatever the policy says. */
export const MIN_DELAY = 50;

/**
 * Returns how long to wait before reconnect attempt number `attempt`
 * (0 for the first), or null to give up.
 * @param {number} attempt
 * @param {ReconnectPolicy | ((attempt: number, error?: Error) => number | null) | boolean | undefined} policy
 * @param {Error} [error] why the connection was lost or the last attempt failed
 * @param {() => number} [random] Math.random or a stand-in for tests
 * @returns {number | null}
 */
export function reconnectDelay(attempt, policy, error, random = Math.random) {
  if (typeof policy === 'function') {
    const d = policy(attempt, error);
    return d == null || d < 0 ? null : Math.max(MIN_DELAY, d);
  }
  // true (or no policy) takes every default; null is an object too, but not a policy.
  const { delay = 500, maxDelay = 15000, factor = 2, jitter = 0.5, retries = Infinity } = (typeof policy == 'object' && policy) || {};
  if (policy === false || attempt >= retries) return null;
  const base = Math.min(maxDelay, delay * factor ** attempt);
  return Math.max(MIN_DELAY, Math.round(base * (1 - Math.min(1, Math.max(0, jitter)) * random())));
}
