package redislatency

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/velocache/velo/cmd/loadgen/internal/redistest"
)

func TestRedisLatency(t *testing.T) {
	addr := redistest.Start(t)
	rep, err := measure(context.Background(), addr, 1000, 64, 2000)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"velo", "redis"} {
		for _, op := range []string{"get", "set"} {
			s := rep.series(target, op)
			if s == nil {
				t.Fatalf("no %s %s series", target, op)
			}
			if s.Ops != 2000 || s.MedianNs <= 0 || s.P99Ns < s.MedianNs || s.MeanNs <= 0 {
				t.Errorf("%s %s: %+v", target, op, *s)
			}
			if op == "get" && s.Hits != s.Ops {
				t.Errorf("%s get: %d of %d hit", target, s.Hits, s.Ops)
			}
		}
	}
	if v, r := rep.series("velo", "get").MedianNs, rep.series("redis", "get").MedianNs; v >= r {
		t.Errorf("velo get median %d ns >= redis get median %d ns", v, r)
	}
	if rep.GetRatio <= 1 {
		t.Errorf("GetRatio = %v", rep.GetRatio)
	}

	var out strings.Builder
	formatLatency(&out, rep)
	if !strings.Contains(out.String(), "| get | redis  |") || !strings.Contains(out.String(), "| set | velo   |") {
		t.Errorf("formatLatency:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}

func TestRedisLatencyBadArgs(t *testing.T) {
	if _, err := measure(context.Background(), "127.0.0.1:1", 0, 64, 10); err == nil {
		t.Error("keys = 0 accepted")
	}
	if _, err := measure(context.Background(), "127.0.0.1:1", 10, 64, 0); err == nil {
		t.Error("n = 0 accepted")
	}
}

func TestRedisLatencyUnreachable(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t)))
	_, err := measure(context.Background(), addr, 10, 8, 10)
	if err == nil || !strings.Contains(err.Error(), "cannot reach Redis at") {
		t.Errorf("err = %v, want one saying Redis cannot be reached", err)
	}
}
