package bench

// Result is what one run measured. Durations are in microseconds and rates
// per second; a figure that could not be measured is -1.
type Result struct {
	Target       string  `json:"target"`
	Publishers   int     `json:"publishers"`
	Consumers    int     `json:"consumers"`
	Size         int     `json:"size"`
	WireSize     int     `json:"wire_size"` // envelope bytes per message
	Window       int     `json:"window"`
	Prefetch     int     `json:"prefetch"`
	Rate         float64 `json:"rate"` // 0: closed loop
	ExchangeType string  `json:"exchange_type"`
	Encryption   string  `json:"encryption"`
	Protocol     string  `json:"protocol"`

	Seconds float64 `json:"seconds"` // first send to last receipt
	Tally
	Refused int64  `json:"refused"` // publishes the broker refused
	Error   string `json:"error,omitempty"`

	MsgsPerSec        float64 `json:"msgs_per_sec"`         // unique messages received end to end
	MBPerSec          float64 `json:"mb_per_sec"`           // msgs_per_sec times size, 10^6 bytes
	ConfirmMsgsPerSec float64 `json:"confirm_msgs_per_sec"` // confirms per second while publishing

	LatencyP50us  float64 `json:"latency_p50_us"`
	LatencyP99us  float64 `json:"latency_p99_us"`
	LatencyP999us float64 `json:"latency_p999_us"`
	LatencyMaxus  float64 `json:"latency_max_us"`
	// Send lag is the load generator's own lateness: how long after its
	// intended time each message's send started (open-loop runs only, -1
	// otherwise). Latency includes it; what is left is the broker's and the
	// client libraries'.
	SendLagP50us float64 `json:"send_lag_p50_us"`
	SendLagP99us float64 `json:"send_lag_p99_us"`
	SendLagMaxus float64 `json:"send_lag_max_us"`

	BrokerCPU      float64 `json:"broker_cpu_pct"`  // % of one core; -1 unknown or in-process
	BrokerPeakRSS  int64   `json:"broker_peak_rss"` // bytes (VmHWM); -1 unknown
	LoadgenCPU     float64 `json:"loadgen_cpu_pct"` // % of one core, broker included when in-process
	LoadgenPeakRSS int64   `json:"loadgen_peak_rss"`
	// MachineBusy is the share of all cores busy during the run, everything
	// on the machine included: well above (broker + loadgen CPU) / cores
	// means something else competed for the CPU and the run is noisy.
	MachineBusy float64 `json:"machine_busy_pct"`
}

// OK reports whether the run kept every promise: nothing lost, nothing
// duplicated, nothing foreign, no error.
func (r Result) OK() bool {
	return r.Error == "" && r.Lost == 0 && r.Duplicated == 0 && r.Foreign == 0
}
