//go:build race

package differential

// raceDetector is true in `go test -race` builds (race_off_test.go).
const raceDetector = true
