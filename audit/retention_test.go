package audit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetentionFor(t *testing.T) {
	tests := []struct {
		name string
		r    Retention
		c    Category
		want time.Duration
	}{
		{"default authentication", nil, CategoryAuthentication, 365 * Day},
		{"default access", nil, CategoryAccess, 730 * Day},
		{"default admin", nil, CategoryAdmin, 730 * Day},
		{"default moderation", nil, CategoryModeration, 365 * Day},
		{"default error", nil, CategoryError, 90 * Day},
		{"default security alert", nil, CategorySecurityAlert, 365 * Day},
		{"default browser report", nil, CategoryBrowserReport, 30 * Day},
		{"default suspicious", nil, CategorySuspicious, 180 * Day},
		{"unknown category", nil, "billing", 90 * Day},
		{"override", Retention{CategoryError: 7 * Day}, CategoryError, 7 * Day},
		{"zero means default", Retention{CategoryError: 0}, CategoryError, 90 * Day},
		{"forever", Retention{CategoryAdmin: KeepForever}, CategoryAdmin, KeepForever},
		{"any negative is forever", Retention{CategoryAdmin: -5}, CategoryAdmin, KeepForever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.r.For(tt.c))
		})
	}
}

func TestRetentionLongestAndCutoff(t *testing.T) {
	r := Retention{CategoryAdmin: KeepForever}
	assert.Equal(t, 365*Day, Retention(nil).Longest(CategoryError, CategoryAuthentication))
	assert.Equal(t, KeepForever, r.Longest(CategoryError, CategoryAdmin))
	assert.Zero(t, r.Longest())

	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	cut, ok := r.Cutoff(CategoryError, now)
	assert.True(t, ok)
	assert.Equal(t, now.Add(-90*Day), cut)
	_, ok = r.Cutoff(CategoryAdmin, now)
	assert.False(t, ok)
}
