package wal

import "fmt"

// SyncPolicy says when the driver fsyncs and when it may confirm. The store
// only records the choice; drivers read it with Store.Policy.
type SyncPolicy uint8

const (
	// SyncAlways: a publish is confirmed only after Sync covered its record.
	// A confirmed message survives kill -9 and power loss. The default.
	SyncAlways SyncPolicy = iota
	// SyncInterval: publishes are confirmed once written (in the OS page
	// cache) and Sync runs every Options.SyncInterval. Survives kill -9 of
	// the broker; power loss loses up to one interval of confirmed messages.
	SyncInterval
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	}
	return fmt.Sprintf("sync-policy(%d)", uint8(p))
}

// ParseSyncPolicy parses "always" or "interval".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch s {
	case "always", "":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	}
	return 0, fmt.Errorf("unknown fsync policy %q: use always (confirm after fsync) or interval (confirm before fsync, see docs/storage.md)", s)
}
