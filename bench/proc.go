package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of utime and stime in /proc/<pid>/stat. Linux fixes
// USER_HZ at 100 on every architecture Go supports, so it is not read from
// sysconf (which would need cgo).
const clockTicks = 100

// ErrNoProc: the process could not be read from /proc (it ended, or this is
// not Linux). The run goes on without that process's figures.
var ErrNoProc = errors.New("bench: cannot read process figures from /proc (is the pid right, and is this Linux?)")

// ProcCPU is a process's consumed CPU time (user plus system).
type ProcCPU struct {
	User   time.Duration
	System time.Duration
}

// Total is user plus system time.
func (c ProcCPU) Total() time.Duration { return c.User + c.System }

// parseStat reads utime and stime from the text of /proc/<pid>/stat. The
// command name (field 2) is in parentheses and may itself contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(data []byte) (ProcCPU, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return ProcCPU{}, fmt.Errorf("%w: stat has no ')' after the command name", ErrNoProc)
	}
	fields := strings.Fields(string(data[end+1:]))
	// After the name: state is field 3, so utime (14) and stime (15) are at
	// indexes 11 and 12 here.
	if len(fields) < 13 {
		return ProcCPU{}, fmt.Errorf("%w: stat has %d fields after the name, want at least 13", ErrNoProc, len(fields))
	}
	ut, err1 := strconv.ParseUint(fields[11], 10, 64)
	st, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return ProcCPU{}, fmt.Errorf("%w: utime/stime: %w", ErrNoProc, err)
	}
	tick := time.Second / clockTicks
	return ProcCPU{User: time.Duration(ut) * tick, System: time.Duration(st) * tick}, nil
}

// parseStatusKB returns a "Key:   123 kB" line of /proc/<pid>/status in bytes.
func parseStatusKB(r io.Reader, key string) (int64, error) {
	sc := bufio.NewScanner(r)
	prefix := key + ":"
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line[len(prefix):])
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: status line %q is not \"%s: <n> kB\"", ErrNoProc, line, key)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: status line %q: %w", ErrNoProc, line, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNoProc, err)
	}
	return 0, fmt.Errorf("%w: status has no %s line", ErrNoProc, key)
}

// procDir is /proc/<pid>, or /proc/self for pid 0.
func procDir(root string, pid int) string {
	if pid == 0 {
		return root + "/self"
	}
	return root + "/" + strconv.Itoa(pid)
}

// ReadCPU reads the CPU time consumed so far by pid (0: this process).
func ReadCPU(pid int) (ProcCPU, error) { return readCPUFrom("/proc", pid) }

func readCPUFrom(root string, pid int) (ProcCPU, error) {
	data, err := os.ReadFile(procDir(root, pid) + "/stat")
	if err != nil {
		return ProcCPU{}, fmt.Errorf("%w: %w", ErrNoProc, err)
	}
	return parseStat(data)
}

// ReadPeakRSS reads pid's peak resident set size (VmHWM) in bytes.
func ReadPeakRSS(pid int) (int64, error) { return readPeakRSSFrom("/proc", pid) }

func readPeakRSSFrom(root string, pid int) (int64, error) {
	f, err := os.Open(procDir(root, pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNoProc, err)
	}
	defer f.Close()
	return parseStatusKB(f, "VmHWM")
}

// cpuPercent is the CPU used between two readings as a percentage of one
// core over wall time (200% = two cores busy).
func cpuPercent(before, after ProcCPU, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * float64(after.Total()-before.Total()) / float64(wall)
}

// MachineCPU is the whole machine's CPU time from the first line of
// /proc/stat, in clock ticks.
type MachineCPU struct {
	Busy, Total uint64
}

// parseMachineStat reads the aggregate "cpu" line of /proc/stat: busy is
// everything but idle and iowait.
func parseMachineStat(data []byte) (MachineCPU, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("%w: /proc/stat does not start with an aggregate cpu line", ErrNoProc)
	}
	var m MachineCPU
	for i, s := range f[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("%w: /proc/stat cpu field %d: %w", ErrNoProc, i+1, err)
		}
		// Fields 9 and 10 (guest, guest_nice) are already inside user and
		// nice; counting them again would overstate.
		if i >= 8 {
			break
		}
		m.Total += v
		if i != 3 && i != 4 { // idle, iowait
			m.Busy += v
		}
	}
	return m, nil
}

// ReadMachineCPU reads the machine's CPU counters.
func ReadMachineCPU() (MachineCPU, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, fmt.Errorf("%w: %w", ErrNoProc, err)
	}
	return parseMachineStat(data)
}

// machineBusyPercent is the share of all cores that were busy between two
// readings (100 = every core busy all the time).
func machineBusyPercent(before, after MachineCPU) float64 {
	total := after.Total - before.Total
	if total == 0 || after.Total < before.Total {
		return -1
	}
	return 100 * float64(after.Busy-before.Busy) / float64(total)
}
