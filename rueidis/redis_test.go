package velorueidis

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// The tests against redis-server wait for conditions they drive, polling
// with deadlines this generous, so that a slow or loaded machine makes
// them slower, not flaky.
const (
	waitFor = 15 * time.Second // the longest any condition is waited for
	// bound is the invalidation lag the consistency tests allow: a write
	// must be visible to other clients this long after it returned. On
	// loopback the lag is milliseconds (logged); the bound leaves room for
	// a loaded machine under -race, so that only a lost invalidation fails.
	bound = 5 * time.Second
)

var redisServerPath = "/usr/bin/redis-server"

// redisServer is a redis-server on loopback that a test owns.
type redisServer struct {
	t    testing.TB
	port int
	addr string
	cmd  *exec.Cmd
	// exited is closed once cmd has exited: one goroutine waits for the
	// process (cmd.Wait), and everything else waits on exited, so that
	// nothing reads cmd's state while that goroutine writes it.
	exited chan struct{}
}

// startRedis starts redis-server on a free loopback port, without
// persistence, and stops it when the test ends. It skips the test if the
// binary is absent.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	if _, err := os.Stat(redisServerPath); err != nil {
		if p, err := exec.LookPath("redis-server"); err == nil {
			redisServerPath = p
		} else {
			t.Skipf("redis-server not found at /usr/bin/redis-server or in PATH: skipping the test against a real server")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &redisServer{t: t, port: port, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) start() {
	r.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		cmd := exec.Command(redisServerPath, "--save", "", "--appendonly", "no",
			"--enable-debug-command", "local", "--port", strconv.Itoa(r.port),
			"--bind", "127.0.0.1", "--dir", r.t.TempDir(), "--loglevel", "warning")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			r.t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		for {
			if c, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
				c.Write([]byte("PING\r\n"))
				buf := make([]byte, 7)
				c.SetReadDeadline(time.Now().Add(time.Second))
				n, _ := io.ReadFull(c, buf)
				c.Close()
				if string(buf[:n]) == "+PONG\r\n" {
					r.cmd, r.exited = cmd, exited
					return
				}
			}
			select {
			case <-exited: // the port may still be held by a killed predecessor
			case <-time.After(20 * time.Millisecond):
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					<-exited
					r.t.Fatalf("redis-server on port %d did not answer PING within %v", r.port, waitFor)
				}
				continue
			}
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d would not start", r.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *redisServer) signal(sig syscall.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal %v: %v", sig, err)
	}
}

// kill9 kills the server with SIGKILL and waits for it to exit.
func (r *redisServer) kill9() {
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// stop kills the server, stopped (SIGSTOP) or not, unless it has exited,
// and waits for it to exit.
func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	select {
	case <-r.exited:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGCONT)
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// newAdmin returns a rueidis client without client-side caching, for the
// test's own commands (writes of "another instance", FLUSHALL, INFO).
func newAdmin(t testing.TB, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newTestClient returns a velorueidis Client of its own (one "instance")
// connected to addr, closed when the test ends.
func newTestClient(t testing.TB, addr string, opts ClientOptions) *Client {
	t.Helper()
	opts.Redis.InitAddress = []string{addr}
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func do(t testing.TB, c rueidis.Client, args ...string) rueidis.RedisResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return c.Do(ctx, c.B().Arbitrary(args[0]).Args(args[1:]...).Build())
}

func mustDo(t testing.TB, c rueidis.Client, args ...string) {
	t.Helper()
	if err := do(t, c, args...).Error(); err != nil && !rueidis.IsRedisNil(err) {
		t.Fatalf("%v: %v", args, err)
	}
}

var getCalls = regexp.MustCompile(`cmdstat_get:calls=(\d+)`)

// serverGets returns how many GETs the server has executed.
func serverGets(t testing.TB, admin rueidis.Client) int {
	t.Helper()
	s, err := do(t, admin, "INFO", "commandstats").ToString()
	if err != nil {
		t.Fatal(err)
	}
	m := getCalls.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > waitFor {
			t.Fatalf("%s: not within %v", what, waitFor)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func noLoad(context.Context, string) ([]byte, error) {
	return nil, fmt.Errorf("unexpected load")
}

func constLoad(v string) func(context.Context, string) ([]byte, error) {
	return func(context.Context, string) ([]byte, error) { return []byte(v), nil }
}

func bg() context.Context { return context.Background() }

// read is GetOrLoad with a deadline, failing the test on error.
func read(t testing.TB, c *Client, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg(), waitFor)
	defer cancel()
	v, err := c.GetOrLoad(ctx, key, 0, noLoad)
	if err != nil {
		t.Fatalf("GetOrLoad(%q): %v", key, err)
	}
	return string(v)
}

// proxy forwards TCP connections to a server; hold makes it keep the
// server's replies until release.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	held   bool
	conns  []net.Conn
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	p.cond = sync.NewCond(&p.mu)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						p.mu.Lock()
						for p.held {
							p.cond.Wait()
						}
						p.mu.Unlock()
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		p.release()
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) hold() {
	p.mu.Lock()
	p.held = true
	p.mu.Unlock()
}

func (p *proxy) release() {
	p.mu.Lock()
	p.held = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// clientIDs returns the ids of the server's clients named name.
func clientIDs(t testing.TB, admin rueidis.Client, name string) []string {
	t.Helper()
	s, err := do(t, admin, "CLIENT", "LIST").ToString()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}
