package bench

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAreValid(t *testing.T) {
	c := Config{}.withDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Publishers != 1 || c.Consumers != 1 || c.Size != 512 || c.Window != 256 || c.Prefetch != 256 || c.Duration != 5*time.Second {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestConfigRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"publishers": func(c *Config) { c.Publishers = -1 },
		"size":       func(c *Config) { c.Size = 5 },
		"window":     func(c *Config) { c.Window = -3 },
		"count":      func(c *Config) { c.Count = -1 },
		"rate":       func(c *Config) { c.Rate = -1 },
		"rate tiny":  func(c *Config) { c.Rate = 1e-12 },
		"rate NaN":   func(c *Config) { c.Rate = math.NaN() },
		"exchange":   func(c *Config) { c.ExchangeType = "headers" },
		"encryption": func(c *Config) { c.Encryption = "rot13" },
		"protocol":   func(c *Config) { c.Protocol = "amqp" },
	} {
		c := Config{}.withDefaults()
		mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), strings.Fields(name)[0]) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig naming it", name, err)
		}
	}
}

func TestOpenUnknownTarget(t *testing.T) {
	_, err := Open(context.Background(), "kafka", TargetOptions{})
	if !errors.Is(err, ErrUnknownTarget) || !strings.Contains(err.Error(), "ciphermq-inproc") {
		t.Fatalf("err = %v, want ErrUnknownTarget listing the targets", err)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	b := make([]byte, 64)
	in := header{publisher: 7, seq: 1 << 33, intended: 1234567 * time.Microsecond}
	putHeader(b, in)
	out, err := readHeader(b)
	if err != nil || out != in {
		t.Fatalf("header %+v came back as %+v (%v)", in, out, err)
	}
	if _, err := readHeader(b[:headerSize-1]); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("short payload: err = %v", err)
	}
	if got := string(messageID(nil, "benchab", 3, 42)); got != "benchab-3-42" {
		t.Fatalf("message id = %q", got)
	}
}
