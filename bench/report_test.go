package bench

import (
	"bytes"
	"strings"
	"testing"
)

func sampleResult(target string, rate float64) Result {
	return Result{
		Target: target, Publishers: 1, Consumers: 1, Size: 512, WireSize: 512, Window: 256, Prefetch: 256,
		ExchangeType: "direct", Encryption: "off", Protocol: "native", Seconds: 5,
		Tally:      Tally{Confirmed: 100, Received: 100, Unique: 100},
		MsgsPerSec: rate, MBPerSec: rate * 512 / 1e6, ConfirmMsgsPerSec: rate,
		LatencyP50us: 1500, LatencyP99us: 25000, LatencyP999us: 40000, LatencyMaxus: 1.5e6,
		SendLagP50us: -1, SendLagP99us: -1, SendLagMaxus: -1,
		BrokerCPU: 87, BrokerPeakRSS: 64 << 20, LoadgenCPU: 50, MachineBusy: 70,
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := []Result{sampleResult("ciphermq", 1000), sampleResult("nats-file", 500)}
	for _, r := range in {
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Count(buf.String(), "\n") != 2 || !strings.Contains(buf.String(), `"lost":0`) {
		t.Fatalf("want two JSON lines with the lost count, got %q", buf.String())
	}
	// Progress and log lines in between are skipped.
	text := "compare: starting\n" + buf.String() + "\n"
	out, err := ReadJSON(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Fatalf("round trip changed the results:\n%+v\n%+v", in, out)
	}
	if _, err := ReadJSON(strings.NewReader("{not json\n")); err == nil {
		t.Fatal("a broken JSON line must be an error")
	}
}

func TestWriteTable(t *testing.T) {
	r := sampleResult("rabbitmq-transient", 12345)
	r.BrokerCPU, r.BrokerPeakRSS = -1, -1
	r.Lost, r.Duplicated = 3, 2
	r.Error = "consumers did not receive every confirmed message"
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Result{r}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"rabbitmq-transient", "12k", "1.5ms", "25.0ms", "1.50s", " 3 ", " 2 ", " - ", "consumers did not receive"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteTableSendLag(t *testing.T) {
	open := sampleResult("ciphermq", 5000)
	open.Rate, open.SendLagP50us, open.SendLagP99us, open.SendLagMaxus = 5000, 12, 240, 3100
	closed := sampleResult("nats-memory", 9000)
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Result{open, closed}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if !strings.Contains(lines[0], "send lag p50/p99/max") {
		t.Fatalf("header lacks the send lag column:\n%s", buf.String())
	}
	if !strings.Contains(lines[1], " 12µs/240µs/3.1ms ") {
		t.Errorf("open-loop row lacks its send lag:\n%s", buf.String())
	}
	if !strings.Contains(lines[2], " - ") || strings.Contains(lines[2], "µs/") {
		t.Errorf("closed-loop row shows a send lag:\n%s", buf.String())
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, open); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"send_lag_p50_us":12`, `"send_lag_p99_us":240`, `"send_lag_max_us":3100`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %s: %s", want, js.String())
		}
	}
}

func TestSummarizeMediansAndRatios(t *testing.T) {
	var rs []Result
	for _, v := range []float64{100, 300, 200} {
		rs = append(rs, sampleResult("ciphermq", v))
	}
	for _, v := range []float64{50, 70} {
		rs = append(rs, sampleResult("nats-memory", v))
	}
	lossy := sampleResult("nats-memory", 10)
	lossy.Lost, lossy.Error = 4, "drain timeout"
	rs = append(rs, lossy)
	other := sampleResult("rabbitmq-transient", 80)
	other.Publishers, other.Consumers = 4, 4 // a workload the base did not run
	rs = append(rs, other)

	ss := Summarize(rs, "ciphermq")
	if len(ss) != 3 {
		t.Fatalf("want 3 rows, got %+v", ss)
	}
	byTarget := map[string]Summary{}
	for _, s := range ss {
		byTarget[s.Target] = s
	}
	if c := byTarget["ciphermq"]; c.MsgsPerSec != 200 || c.Ratio != 1 || c.Runs != 3 {
		t.Errorf("ciphermq row = %+v, want median 200 and ratio 1", c)
	}
	if n := byTarget["nats-memory"]; n.MsgsPerSec != 50 || n.Ratio != 0.25 || n.Lost != 4 || n.Failed != 1 {
		t.Errorf("nats row = %+v, want median 50, ratio 0.25, lost 4, 1 failed", n)
	}
	if r := byTarget["rabbitmq-transient"]; r.Ratio != 0 {
		t.Errorf("no base on that workload, ratio must be unknown (0), got %v", r.Ratio)
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, ss, "ciphermq"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vs ciphermq", "| 1/1 512B off | nats-memory | 3 | 50 | 0.25× |", "| 4/4 512B off | rabbitmq-transient | 1 | 80 | - |"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{4, 1}, 2.5}, {[]float64{9, 1, 5}, 5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestResultOK(t *testing.T) {
	r := sampleResult("x", 1)
	if !r.OK() {
		t.Fatal("clean result not OK")
	}
	for _, mutate := range []func(*Result){
		func(r *Result) { r.Lost = 1 }, func(r *Result) { r.Duplicated = 1 },
		func(r *Result) { r.Foreign = 1 }, func(r *Result) { r.Error = "x" },
	} {
		bad := r
		mutate(&bad)
		if bad.OK() {
			t.Errorf("%+v reported OK", bad.Tally)
		}
	}
}

// A durable row group: only its targets, ratios against ciphermq-durable.
func TestOnlyTargetsMakesARowGroup(t *testing.T) {
	rs := []Result{
		sampleResult("ciphermq", 400), sampleResult("ciphermq-durable", 100),
		sampleResult("rabbitmq-persistent", 25), sampleResult("nats-file", 50), sampleResult("nats-memory", 300),
	}
	if got := OnlyTargets(rs, nil); len(got) != len(rs) {
		t.Fatalf("no names must keep all %d results, kept %d", len(rs), len(got))
	}
	group := OnlyTargets(rs, []string{"ciphermq-durable", "rabbitmq-persistent", "nats-file", "not-run"})
	if len(group) != 3 {
		t.Fatalf("kept %d results, want the 3 durable ones: %+v", len(group), group)
	}
	byTarget := map[string]Summary{}
	for _, s := range Summarize(group, "ciphermq-durable") {
		byTarget[s.Target] = s
	}
	if _, ok := byTarget["ciphermq"]; ok || len(byTarget) != 3 {
		t.Fatalf("rows %v, want only the durable group", byTarget)
	}
	if r := byTarget["rabbitmq-persistent"].Ratio; r != 0.25 {
		t.Errorf("rabbitmq-persistent vs ciphermq-durable = %v, want 0.25", r)
	}
	if r := byTarget["nats-file"].Ratio; r != 0.5 {
		t.Errorf("nats-file vs ciphermq-durable = %v, want 0.5", r)
	}
}
