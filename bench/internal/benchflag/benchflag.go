// Package benchflag holds what the side-by-side throughput benchmarks
// share: their -P flag, the pair of servers they compare and the servers'
// CPU time read from /proc.
package benchflag

import (
	"fmt"
	"strconv"
	"strings"
)

// PipelineDepths parses a -P flag: comma-separated pipeline depths, each
// at least 1, as redis-benchmark's -P takes one.
func PipelineDepths(list string) ([]int, error) {
	var depths []int
	for _, p := range strings.Split(list, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || d < 1 {
			return nil, fmt.Errorf("bad pipeline depth %q in -P", p)
		}
		depths = append(depths, d)
	}
	return depths, nil
}
