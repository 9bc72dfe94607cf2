// Package redistest starts throwaway redis-server processes for tests.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Start starts a throwaway redis-server on a free loopback port (no
// persistence, its files in a temporary directory), waits until it answers
// PING, and returns its address. The server is killed, and waited for,
// when the test ends. Without redis-server in PATH the test is skipped.
func Start(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (apt-get install -y redis-server); skipping")
	}
	// The port is free when picked but could be taken before the server
	// binds it; try a few.
	var errs []string
	for range 3 {
		addr, err := tryStartRedis(t, bin)
		if err == nil {
			return addr
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("could not start redis-server:\n%s", strings.Join(errs, "\n"))
	return ""
}

func tryStartRedis(t *testing.T, bin string) (string, error) {
	port := FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill() // fails harmlessly if it already exited
		<-exited
	}
	t.Cleanup(stop)

	deadline := time.Now().Add(5 * time.Second)
	for {
		err := ping(addr)
		if err == nil {
			return addr, nil
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			return "", fmt.Errorf("redis-server on port %d exited: %s", port, out)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			out, _ := os.ReadFile(logPath)
			return "", fmt.Errorf("redis-server on port %d did not answer PING within 5s: %v\n%s", port, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a loopback TCP port that nothing listened on a moment ago.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// ping sends PING to the Redis at addr and checks for +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
