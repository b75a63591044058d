package chat

// Hashing at full cost makes every login take a quarter of a second under the race
// detector; the tests check the logic, not the work factor.
func init() { pbkdf2Iterations = 1_000 }
