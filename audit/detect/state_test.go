package detect_test

import (
	"testing"

	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/audit/detect/detecttest"
)

func TestMemoryConformance(t *testing.T) {
	detecttest.TestState(t, func(*testing.T) detect.State { return detect.NewMemory(0) })
}
