//go:build race

package sqlite

// raceEnabled: the race detector's shadow memory grows the resident set
// with every allocation, so resident-set bounds cannot be checked.
const raceEnabled = true
