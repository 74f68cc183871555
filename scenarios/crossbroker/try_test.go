package crossbroker

import (
	"context"
	"os"
	"testing"
)

func TestTry(t *testing.T) {
	tg := os.Getenv("XB_TARGET")
	if tg == "" {
		t.Skip("manual")
	}
	sc, _ := Lookup(os.Getenv("XB_SCENARIO"))
	res := Run(context.Background(), tg, sc, Options{CipherBinary: os.Getenv("XB_BIN")}, Config{Seed: 1, Keep: true})
	t.Logf("%+v err=%v\n%s notes=%v indet=%d", res.Settings, res.Err, res.Report.Summary(), res.Notes, res.Indeterminate)
	t.Logf("lost %d dup %d unexp %d pending %d", len(res.Report.Lost), len(res.Report.Duplicated), len(res.Report.Unexpected), len(res.Report.Pending))
}
