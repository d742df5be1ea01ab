//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
)

// row is one line of the result table: StructD's figure, Redis's, a
// ratio, and the target a figure (judged) must meet.
type row struct {
	name        string
	ours, redis metric
	unit        string // "bytes", "s" or "req/s"
	ratio       metric // StructD over Redis, or what the target names
	target      string // as printed; "" for no target
	judged      metric // the figure the target bounds
	limit       float64
	atLeast     bool // the target is judged ≥ limit, else ≤ limit
	asPercent   bool // also print the figures as % of the dataset
}

// verdict is PASS or MISS against the target, n/a when the judged figure
// is, "-" without a target.
func (r row) verdict() string {
	switch {
	case r.target == "":
		return "-"
	case r.judged.na != "":
		return "n/a"
	case r.atLeast && r.judged.v >= r.limit, !r.atLeast && r.judged.v <= r.limit:
		return "PASS"
	}
	return "MISS"
}

// ratioOf is a/b, n/a when either is.
func ratioOf(a, b metric) metric {
	switch {
	case a.na != "":
		return metric{na: "StructD's figure is n/a"}
	case b.na != "":
		return metric{na: "Redis's figure is n/a"}
	case b.v == 0:
		return metric{na: "Redis's figure is 0"}
	}
	return measured(a.v / b.v)
}

// compared is a row whose target bounds the ratio StructD/Redis.
func compared(name, unit string, ours, redis metric, atLeast bool, limit float64) row {
	r := row{name: name, ours: ours, redis: redis, unit: unit, ratio: ratioOf(ours, redis), atLeast: atLeast, limit: limit}
	r.judged = r.ratio
	r.target = fmt.Sprintf("≤ %gx", limit)
	if atLeast {
		r.target = fmt.Sprintf("≥ %gx", limit)
	}
	return r
}

// buildRows turns the measures into the table's rows with their targets.
func buildRows(d dataset, ours, redis *sideResult, setOurs, setRedis map[string]metric) []row {
	memTarget := 0.01 * float64(d.bytes())
	extra := compared("checkpoint peak extra memory", "bytes", ours.extraMemory, redis.extraMemory, false, 0)
	extra.judged, extra.limit, extra.asPercent = ours.extraMemory, memTarget, true
	extra.target = fmt.Sprintf("≤ 1%% of data (%s)", format(measured(memTarget), "bytes"))

	changed := row{name: "checkpoint after 1% changed", ours: ours.changedSave, redis: redis.changedSave, unit: "s",
		ratio: ratioOf(ours.changedSave, ours.fullSave), target: "≤ 0.05x our full", limit: 0.05}
	changed.judged = changed.ratio

	rows := []row{
		extra,
		compared("full checkpoint (1st BGSAVE)", "s", ours.fullSave, redis.fullSave, false, 0.75),
		changed,
		compared("restart: first right GET", "s", ours.firstGet, redis.firstGet, false, 0.1),
		compared("restart: all keys in memory", "s", ours.allInMemory, redis.firstGet, false, 0.75),
	}
	for _, fsync := range []string{"everysec", "always"} {
		rows = append(rows, compared("SET -P 16 appendfsync "+fsync, "req/s", setOurs[fsync], setRedis[fsync], true, 1))
	}
	disk := compared("size on disk", "bytes", ours.disk, redis.disk, false, 0)
	disk.target = ""
	return append(rows, disk)
}

// printTable writes the rows, then the reason for every n/a figure.
func printTable(w io.Writer, d dataset, rows []row) {
	fmt.Fprintf(w, "%-30s %12s %12s %7s  %-26s %s\n", "measure", "structd", "redis", "ratio", "target", "verdict")
	var reasons []string
	for _, r := range rows {
		ratio := "n/a"
		if r.ratio.na == "" {
			ratio = fmt.Sprintf("%.3f", r.ratio.v)
		}
		fmt.Fprintf(w, "%-30s %12s %12s %7s  %-26s %s\n", r.name, format(r.ours, r.unit), format(r.redis, r.unit), ratio, r.target, r.verdict())
		if r.asPercent {
			fmt.Fprintf(w, "%-30s %12s %12s\n", "  as % of the dataset", percent(r.ours, d), percent(r.redis, d))
		}
		if r.ours.na != "" {
			reasons = append(reasons, fmt.Sprintf("n/a: %s, structd: %s", r.name, r.ours.na))
		}
		if r.redis.na != "" && r.name != "restart: all keys in memory" { // Redis's first GET, said once
			reasons = append(reasons, fmt.Sprintf("n/a: %s, redis: %s", r.name, r.redis.na))
		}
	}
	for _, s := range reasons {
		fmt.Fprintln(w, s)
	}
}

// format prints a metric in its unit, or n/a.
func format(m metric, unit string) string {
	switch {
	case m.na != "":
		return "n/a"
	case unit == "bytes":
		return fmt.Sprintf("%.1f MiB", m.v/(1<<20))
	case unit == "s" && m.v < 1:
		return fmt.Sprintf("%.1f ms", m.v*1000)
	case unit == "s":
		return fmt.Sprintf("%.2f s", m.v)
	}
	return fmt.Sprintf("%.0f %s", m.v, unit)
}

// formatAll formats each of ms, comma-separated.
func formatAll(ms []metric, unit string) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = format(m, unit)
	}
	return strings.Join(parts, ", ")
}

// percent is a byte metric as a percentage of the dataset.
func percent(m metric, d dataset) string {
	if m.na != "" {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*m.v/float64(d.bytes()))
}
