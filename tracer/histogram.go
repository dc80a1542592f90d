package tracer

import (
	"math/bits"
	"time"
)

// The latency histogram is log-linear, like HdrHistogram with three bits of
// precision: every power of two from 1 µs up is split into 8 equal
// sub-buckets, so a percentile read from it is within 12.5% of the true value.
// Durations below 1 µs fall in bucket 0; durations above ~9 minutes in the last.
// It has a fixed size (histBuckets counters), whatever the number of calls.
const (
	histSubBits    = 3
	histSub        = 1 << histSubBits
	histMinShift   = 10 // 2^10 ns ≈ 1 µs: the first exponent tracked
	histExponents  = 30 // up to 2^(10+30) ns ≈ 18 minutes
	histBuckets    = histExponents * histSub
	histUnitMaxIdx = histBuckets - 1
)

type histogram [histBuckets]uint32

func histIndex(d time.Duration) int {
	ns := uint64(d)
	if d <= 0 || ns < 1<<histMinShift {
		return 0
	}
	exp := bits.Len64(ns) - 1 // position of the top bit, ≥ histMinShift
	sub := int(ns>>(uint(exp)-histSubBits)) & (histSub - 1)
	idx := (exp-histMinShift)*histSub + sub
	if idx > histUnitMaxIdx {
		return histUnitMaxIdx
	}
	return idx
}

// histUpper returns the upper bound of bucket i.
func histUpper(i int) time.Duration {
	exp := i/histSub + histMinShift
	sub := uint64(i%histSub) + 1
	return time.Duration((uint64(1) << uint(exp)) + sub<<(uint(exp)-histSubBits))
}

// histLower returns the lower bound of bucket i.
func histLower(i int) time.Duration {
	if i == 0 {
		return 0
	}
	exp := i/histSub + histMinShift
	sub := uint64(i % histSub)
	return time.Duration((uint64(1) << uint(exp)) + sub<<(uint(exp)-histSubBits))
}

func (h *histogram) record(d time.Duration) {
	i := histIndex(d)
	if h[i] < ^uint32(0) {
		h[i]++
	}
}

// quantile returns the q-quantile (0 < q ≤ 1) as the midpoint of the bucket holding
// it, clamped to [min, max] so that p100 equals the true maximum.
func (h *histogram) quantile(q float64, total int64, minD, maxD time.Duration) time.Duration {
	if total <= 0 {
		return 0
	}
	if q >= 1 {
		return maxD
	}
	rank := uint64(q*float64(total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h {
		seen += uint64(h[i])
		if seen >= rank {
			lo, hi := histLower(i), histUpper(i)
			v := lo + (hi-lo)/2
			if v < minD {
				v = minD
			}
			if v > maxD {
				v = maxD
			}
			return v
		}
	}
	return maxD
}
