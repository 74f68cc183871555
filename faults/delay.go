package faults

import (
	"math"
	"math/rand/v2"
)

// DelayDist names the distribution of a Delay.
type DelayDist string

const (
	// DelayNone (or an empty dist) adds no delay.
	DelayNone DelayDist = "none"
	// DelayConstant always adds Ms.
	DelayConstant DelayDist = "constant"
	// DelayUniform draws uniformly from [MinMs, MaxMs].
	DelayUniform DelayDist = "uniform"
	// DelayExponential draws MinMs + Exp(mean MeanMs), capped at MaxMs when
	// MaxMs > 0. Most samples are short, a few are long: a good model of
	// queueing delay.
	DelayExponential DelayDist = "exponential"
	// DelayLogNormal draws MinMs + MedianMs·e^(Sigma·N(0,1)), capped at MaxMs
	// when MaxMs > 0: the heavy tail seen in real network latencies.
	DelayLogNormal DelayDist = "lognormal"
)

// Delay is a distribution of virtual milliseconds. Only the fields its Dist
// uses may be set; Validate says which.
type Delay struct {
	Dist     DelayDist `json:"dist,omitempty"`
	Ms       Millis    `json:"ms,omitempty"`
	MinMs    Millis    `json:"min_ms,omitempty"`
	MaxMs    Millis    `json:"max_ms,omitempty"`
	MeanMs   Millis    `json:"mean_ms,omitempty"`
	MedianMs Millis    `json:"median_ms,omitempty"`
	Sigma    float64   `json:"sigma,omitempty"`
}

// Constant is a Delay of exactly ms.
func Constant(ms Millis) Delay { return Delay{Dist: DelayConstant, Ms: ms} }

// Uniform is a Delay drawn uniformly from [minMs, maxMs].
func Uniform(minMs, maxMs Millis) Delay { return Delay{Dist: DelayUniform, MinMs: minMs, MaxMs: maxMs} }

// Exponential is a Delay with the given mean, capped at maxMs (0: no cap).
func Exponential(meanMs, maxMs Millis) Delay {
	return Delay{Dist: DelayExponential, MeanMs: meanMs, MaxMs: maxMs}
}

// LogNormal is a Delay with the given median and shape, capped at maxMs (0: no cap).
func LogNormal(medianMs Millis, sigma float64, maxMs Millis) Delay {
	return Delay{Dist: DelayLogNormal, MedianMs: medianMs, Sigma: sigma, MaxMs: maxMs}
}

// IsZero reports whether d is the zero Delay (no distribution at all).
func (d Delay) IsZero() bool { return d == Delay{} }

// IsNone reports whether d never adds delay (including a constant 0).
func (d Delay) IsNone() bool {
	switch d.Dist {
	case "", DelayNone:
		return true
	case DelayConstant:
		return d.Ms == 0
	case DelayUniform:
		return d.MaxMs == 0
	}
	return false
}

// Sample draws one delay from d using r. It never returns a negative value.
// An invalid Delay samples as zero; validate plans before running them.
func (d Delay) Sample(r *rand.Rand) Millis {
	var v Millis
	switch d.Dist {
	case DelayConstant:
		v = d.Ms
	case DelayUniform:
		if d.MaxMs > d.MinMs {
			v = d.MinMs + Millis(r.Int64N(int64(d.MaxMs-d.MinMs)+1))
		} else {
			v = d.MinMs
		}
	case DelayExponential:
		v = d.MinMs + d.capped(float64(d.MeanMs)*r.ExpFloat64())
	case DelayLogNormal:
		v = d.MinMs + d.capped(float64(d.MedianMs)*math.Exp(d.Sigma*r.NormFloat64()))
	}
	return max(v, 0)
}

// capped rounds a sampled tail and applies MaxMs, which bounds the whole
// sample (MinMs included) so a plan's worst case is what it says.
func (d Delay) capped(x float64) Millis {
	limit := math.MaxInt64 / 2.0
	if d.MaxMs > 0 {
		limit = float64(d.MaxMs - d.MinMs)
	}
	if !(x < limit) { // also catches +Inf and NaN
		x = limit
	}
	return Millis(math.Round(x))
}

// Max is the largest value Sample can return, or -1 when the tail is
// unbounded (an exponential or lognormal delay without MaxMs).
func (d Delay) Max() Millis {
	switch d.Dist {
	case DelayConstant:
		return d.Ms
	case DelayUniform:
		return max(d.MinMs, d.MaxMs)
	case DelayExponential, DelayLogNormal:
		if d.MaxMs > 0 {
			return d.MaxMs
		}
		return -1
	}
	return 0
}

// Validate reports whether d is a well-formed distribution (for users of
// Delay outside a Plan, such as the fault proxy).
func (d Delay) Validate() error {
	var p problems
	d.validate(&p, "delay")
	return p.err()
}

func (d Delay) validate(p *problems, field string) {
	unused := func(name string, set bool) {
		if set {
			p.addf(field+"."+name, "not used by a %q delay: remove it", d.Dist)
		}
	}
	p.nonNegative(field+".ms", d.Ms)
	p.nonNegative(field+".min_ms", d.MinMs)
	p.nonNegative(field+".max_ms", d.MaxMs)
	p.nonNegative(field+".mean_ms", d.MeanMs)
	p.nonNegative(field+".median_ms", d.MedianMs)
	switch d.Dist {
	case "", DelayNone:
		if d != (Delay{Dist: d.Dist}) {
			p.addf(field, "parameters given but dist is %q: set dist to constant, uniform, exponential or lognormal", d.Dist)
		}
	case DelayConstant:
		unused("min_ms", d.MinMs != 0)
		unused("max_ms", d.MaxMs != 0)
		unused("mean_ms", d.MeanMs != 0)
		unused("median_ms", d.MedianMs != 0)
		unused("sigma", d.Sigma != 0)
	case DelayUniform:
		unused("ms", d.Ms != 0)
		unused("mean_ms", d.MeanMs != 0)
		unused("median_ms", d.MedianMs != 0)
		unused("sigma", d.Sigma != 0)
		if d.MaxMs < d.MinMs {
			p.addf(field+".max_ms", "%d ms is below min_ms %d ms: swap them", d.MaxMs, d.MinMs)
		}
	case DelayExponential:
		unused("ms", d.Ms != 0)
		unused("median_ms", d.MedianMs != 0)
		unused("sigma", d.Sigma != 0)
		if d.MeanMs <= 0 {
			p.addf(field+".mean_ms", "an exponential delay needs a mean above 0 ms")
		}
		if d.MaxMs != 0 && d.MaxMs < d.MinMs {
			p.addf(field+".max_ms", "cap %d ms is below min_ms %d ms: raise it or use 0 for no cap", d.MaxMs, d.MinMs)
		}
	case DelayLogNormal:
		unused("ms", d.Ms != 0)
		unused("mean_ms", d.MeanMs != 0)
		if d.MedianMs <= 0 {
			p.addf(field+".median_ms", "a lognormal delay needs a median above 0 ms")
		}
		if !(d.Sigma >= 0 && d.Sigma <= 5) {
			p.addf(field+".sigma", "%v is out of range: use a shape in [0, 5] (1 is already a heavy tail)", d.Sigma)
		}
		if d.MaxMs != 0 && d.MaxMs < d.MinMs {
			p.addf(field+".max_ms", "cap %d ms is below min_ms %d ms: raise it or use 0 for no cap", d.MaxMs, d.MinMs)
		}
	default:
		p.addf(field+".dist", "unknown distribution %q: use none, constant, uniform, exponential or lognormal", d.Dist)
	}
}
