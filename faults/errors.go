package faults

import (
	"errors"
	"fmt"
)

// ErrInvalidPlan is wrapped by every validation error, so callers can tell a
// bad plan file from an I/O failure with errors.Is.
var ErrInvalidPlan = errors.New("invalid fault plan")

// fieldError names the field of a plan that is wrong and says how to fix it.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string {
	return fmt.Sprintf("%s: %s: %s", ErrInvalidPlan, e.field, e.msg)
}

func (e *fieldError) Unwrap() error { return ErrInvalidPlan }

// problems collects every validation error of a plan, so one run of a
// validator reports all mistakes in a file instead of the first one only.
type problems struct {
	errs []error
}

func (p *problems) addf(field, format string, args ...any) {
	p.errs = append(p.errs, &fieldError{field: field, msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// probability checks that v is a probability.
func (p *problems) probability(field string, v float64) {
	if !(v >= 0 && v <= 1) { // also rejects NaN
		p.addf(field, "%v is not a probability: use a value in [0, 1]", v)
	}
}

// nonNegative checks a duration.
func (p *problems) nonNegative(field string, v Millis) {
	if v < 0 {
		p.addf(field, "%d ms is negative: use 0 or more", int64(v))
	}
}
