package password

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linearHost models a host where a hash takes perBlock × memory × passes.
func linearHost(perKiBPass time.Duration, calls *int) func(Params) time.Duration {
	return func(p Params) time.Duration {
		*calls++
		return time.Duration(p.Memory) * time.Duration(p.Time) * perKiBPass
	}
}

func TestCalibrate(t *testing.T) {
	// 64 MiB, one pass = 50 ms on this model host.
	per := 50 * time.Millisecond / 65536
	tests := []struct {
		name   string
		cfg    CalibrateConfig
		per    time.Duration
		want   Params
		maxTok time.Duration
	}{
		{"fast host: more passes", CalibrateConfig{Target: 250 * time.Millisecond}, per,
			Params{Memory: 65536, Time: 5, Threads: 4, SaltLen: 16, KeyLen: 32}, 250 * time.Millisecond},
		{"capped passes", CalibrateConfig{Target: 10 * time.Second, MaxTime: 8}, per,
			Params{Memory: 65536, Time: 8, Threads: 4, SaltLen: 16, KeyLen: 32}, 10 * time.Second},
		{"slow host: less memory, OWASP passes", CalibrateConfig{Target: 30 * time.Millisecond}, per,
			Params{Memory: 19680, Time: 2, Threads: 4, SaltLen: 16, KeyLen: 32}, 30 * time.Millisecond},
		{"slow host, one pass affordable", CalibrateConfig{Target: 40 * time.Millisecond}, per,
			Params{Memory: 52480, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}, 40 * time.Millisecond},
		{"very slow host: OWASP floor even if over target", CalibrateConfig{Target: time.Millisecond}, per,
			Params{Memory: 19456, Time: 2, Threads: 4, SaltLen: 16, KeyLen: 32}, time.Second},
		{"small memory budget", CalibrateConfig{Target: 250 * time.Millisecond, Memory: 8192, Threads: 1}, per,
			Params{Memory: 8192, Time: 16, Threads: 1, SaltLen: 16, KeyLen: 32}, 250 * time.Millisecond},
		{"small memory budget, OWASP passes over target", CalibrateConfig{Target: 10 * time.Millisecond, Memory: 8192, Threads: 1}, per,
			Params{Memory: 8192, Time: 5, Threads: 1, SaltLen: 16, KeyLen: 32}, 40 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			c, err := calibrate(context.Background(), tt.cfg, linearHost(tt.per, &calls))
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.Params)
			assert.True(t, c.Params.MeetsOWASP(), "never below the OWASP minimum")
			assert.LessOrEqual(t, c.Took, tt.maxTok)
			assert.Positive(t, calls)
		})
	}
}

func TestCalibrateSlowerThanLinear(t *testing.T) {
	// Each extra pass costs more than the first: calibrate steps back.
	calls := 0
	measure := func(p Params) time.Duration {
		calls++
		return time.Duration(p.Time*p.Time) * 10 * time.Millisecond
	}
	c, err := calibrate(context.Background(), CalibrateConfig{Target: 100 * time.Millisecond}, measure)
	require.NoError(t, err)
	assert.Equal(t, uint32(3), c.Params.Time)
	assert.Equal(t, 90*time.Millisecond, c.Took)
}

func TestCalibrateCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	_, err := calibrate(ctx, CalibrateConfig{}, linearHost(time.Nanosecond, &calls))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, calls)
	_, err = calibrate(context.Background(), CalibrateConfig{Memory: 7167}, linearHost(time.Nanosecond, &calls))
	assert.ErrorContains(t, err, "at least 7168 KiB")
}

// TestCalibrateRealHost runs the real measurement once, cheaply.
func TestCalibrateRealHost(t *testing.T) {
	c, err := Calibrate(context.Background(), CalibrateConfig{Target: time.Millisecond, Memory: 7168, Threads: 1, Samples: 1})
	require.NoError(t, err)
	assert.True(t, c.Params.MeetsOWASP())
	assert.Equal(t, uint32(7168), c.Params.Memory)
	assert.Equal(t, uint32(5), c.Params.Time)
	assert.Positive(t, c.Took)
	_, err = NewHasher(HasherConfig{Params: c.Params})
	assert.NoError(t, err)
}
