//go:build !race

package differential

// raceDetector is true in `go test -race` builds (race_on_test.go).
const raceDetector = false
