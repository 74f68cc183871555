package bench

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatFixture(t *testing.T) {
	cpu, err := readCPUFrom("testdata/proc", 4242)
	if err != nil {
		t.Fatal(err)
	}
	// utime 250 and stime 75 ticks of 10 ms; the name holds spaces and
	// parentheses, which a naive split would miscount.
	if cpu.User != 2500*time.Millisecond || cpu.System != 750*time.Millisecond || cpu.Total() != 3250*time.Millisecond {
		t.Fatalf("cpu = %+v, want user 2.5s system 750ms", cpu)
	}
}

func TestParseStatRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "12 (x) S 1 2", "12 no parens at all", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 5 0"} {
		if _, err := parseStat([]byte(in)); !errors.Is(err, ErrNoProc) {
			t.Errorf("parseStat(%q) err = %v, want ErrNoProc", in, err)
		}
	}
}

func TestPeakRSSFixture(t *testing.T) {
	rss, err := readPeakRSSFrom("testdata/proc", 4242)
	if err != nil {
		t.Fatal(err)
	}
	if rss != 167936*1024 {
		t.Fatalf("VmHWM = %d bytes, want %d", rss, 167936*1024)
	}
}

func TestStatusMissingOrMalformed(t *testing.T) {
	if _, err := parseStatusKB(strings.NewReader("Name:\tx\n"), "VmHWM"); !errors.Is(err, ErrNoProc) {
		t.Errorf("no VmHWM line: err = %v", err)
	}
	if _, err := parseStatusKB(strings.NewReader("VmHWM:\t12 MB\n"), "VmHWM"); !errors.Is(err, ErrNoProc) {
		t.Errorf("wrong unit: err = %v", err)
	}
	if _, err := readPeakRSSFrom("testdata/proc", 999999); !errors.Is(err, ErrNoProc) {
		t.Errorf("missing pid: err = %v", err)
	}
}

func TestMachineStatFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseMachineStat(data)
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq+steal = 1000+50+300+0+20+30; idle and
	// iowait are not busy; guest is inside user already.
	if m.Busy != 1400 || m.Total != 6500 {
		t.Fatalf("machine = %+v, want busy 1400 total 6500", m)
	}
	later := MachineCPU{Busy: m.Busy + 150, Total: m.Total + 200}
	if got := machineBusyPercent(m, later); got != 75 {
		t.Fatalf("busy percent = %v, want 75", got)
	}
	if got := machineBusyPercent(m, m); got != -1 {
		t.Fatalf("no elapsed ticks: %v, want -1 (unknown)", got)
	}
	if _, err := parseMachineStat([]byte("intr 0\n")); !errors.Is(err, ErrNoProc) {
		t.Fatalf("no cpu line: err = %v", err)
	}
}

func TestCPUPercent(t *testing.T) {
	before := ProcCPU{User: time.Second}
	after := ProcCPU{User: 2 * time.Second, System: time.Second}
	if got := cpuPercent(before, after, time.Second); got != 200 {
		t.Fatalf("2s of CPU in 1s = %v%%, want 200", got)
	}
	if got := cpuPercent(before, after, 0); got != 0 {
		t.Fatalf("zero wall time = %v, want 0", got)
	}
}

func TestReadSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system: the figures are reported as unknown there")
	}
	if _, err := ReadCPU(0); err != nil {
		t.Fatal(err)
	}
	rss, err := ReadPeakRSS(0)
	if err != nil || rss <= 0 {
		t.Fatalf("own peak RSS = %d, %v", rss, err)
	}
}
