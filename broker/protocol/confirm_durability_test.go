package protocol_test

import (
	"reflect"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// TestConfirmDurabilityFlag: with FeatureConfirmDurability a confirm range
// holds one durability only and carries the flag when on disk; without it
// the frames are those of servers that predate the feature.
func TestConfirmDurabilityFlag(t *testing.T) {
	outcomes := []broker.Effect{
		{Kind: broker.EffectConfirm, Seq: 1, Durable: true},
		{Kind: broker.EffectConfirm, Seq: 2, Durable: true},
		{Kind: broker.EffectConfirm, Seq: 3},
		{Kind: broker.EffectConfirm, Seq: 4, Durable: true},
		{Kind: broker.EffectConfirm, Seq: 5, Duplicate: true, Durable: true},
		{Kind: broker.EffectConfirm, Seq: 6, Duplicate: true},
	}
	for _, c := range []struct {
		name     string
		features uint64
		want     []wire.Frame
	}{
		{"negotiated", wire.FeatureConfirmDurability, []wire.Frame{
			&wire.Confirm{First: 1, Last: 2, Durable: true}, &wire.Confirm{First: 3, Last: 3},
			&wire.Confirm{First: 4, Last: 4, Durable: true},
			&wire.ConfirmDup{Seq: 5, Durable: true}, &wire.ConfirmDup{Seq: 6},
		}},
		{"not negotiated", 0, []wire.Frame{
			&wire.Confirm{First: 1, Last: 4}, &wire.ConfirmDup{Seq: 5}, &wire.ConfirmDup{Seq: 6},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, broker.Config{})
			s, got := openWithFeatures(t, w, c.features)
			if got != c.features {
				t.Fatalf("granted %#x, want %#x", got, c.features)
			}
			for _, e := range outcomes {
				s.HandleEffect(e, w.now)
			}
			if fs := frames(t, w.take(s)); !reflect.DeepEqual(fs, c.want) {
				t.Fatalf("frames %#v, want %#v", fs, c.want)
			}
		})
	}
}
