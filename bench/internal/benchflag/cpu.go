package benchflag

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is the unit of /proc/PID/stat's times (sysconf(_SC_CLK_TCK),
// 100 on Linux).
const clockTicks = 100

// CPU is the CPU time a process used so far, in user and system mode.
type CPU struct{ User, Sys time.Duration }

// Total is user plus system time.
func (c CPU) Total() time.Duration { return c.User + c.Sys }

// Sub is the CPU time used between before and c.
func (c CPU) Sub(before CPU) CPU { return CPU{c.User - before.User, c.Sys - before.Sys} }

// ProcessCPU is the CPU time process pid and the children it waited for
// (Redis's fork children) used so far: utime + cutime and stime + cstime
// of /proc/PID/stat, in clock ticks (10 ms). Where there is no /proc (not
// Linux) it returns the error of reading it.
func ProcessCPU(pid int) (CPU, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPU{}, err
	}
	// The fields after the command name, which may hold spaces, start
	// with the state (field 3); utime, stime, cutime, cstime are fields
	// 14 to 17.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return CPU{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 15 {
		return CPU{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	var ticks [4]int64
	for j, f := range fields[11:15] {
		if ticks[j], err = strconv.ParseInt(string(f), 10, 64); err != nil {
			return CPU{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	tick := time.Second / clockTicks
	return CPU{User: time.Duration(ticks[0]+ticks[2]) * tick, Sys: time.Duration(ticks[1]+ticks[3]) * tick}, nil
}
