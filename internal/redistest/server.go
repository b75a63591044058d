// Package redistest starts real Redis topologies for tests and for the benchmark
// tool: a single server ([StartServer]), a Redis Cluster of masters and replicas
// ([StartCluster]) and a master with a replica watched by sentinels
// ([StartSentinel]). Every process is a redis-server of its own, listening on a
// free port of 127.0.0.1, keeping nothing on disk ("--save ” --appendonly no")
// but its log and configuration in a temporary directory of its own. Processes
// run in their own process group: Close kills the group and removes the
// directory, and on Linux a process is killed when the program that started it
// dies, so nothing outlives a test.
//
// The topologies give the URLs backplane/redis accepts (redis://,
// redis+cluster://, redis+sentinel://) and what fault tests need: the master of a
// key or a slot ([Cluster.MasterOf], with [Slot] computing hash slots as Redis
// does), killing a process ([Server.Kill]) and waiting for the failover that
// follows ([Cluster.WaitFailover], [Sentinel.WaitFailover]). Commands go through
// a small RESP client ([Server.Do], [Conn]), so the package depends on nothing
// but the redis-server and redis-cli binaries.
//
// The core API takes a context and returns errors; the helpers with a T suffix
// ([StartServerT], [StartClusterT], [StartSentinelT]) are for tests: they skip
// when redis-server is missing (fail with HUBBUB_REQUIRE_REDIS=1) and close what
// they start with t.Cleanup.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The binaries the package runs: names looked up in PATH, or paths. A program
// may set them (hubbench's --redis-server) before starting anything.
var (
	ServerPath = "redis-server"
	CLIPath    = "redis-cli"
)

var (
	// ErrNoRedis means a Redis binary (ServerPath, CLIPath) was not found.
	ErrNoRedis = errors.New("redistest: redis binary not found")
	// ErrRunning means Restart was called on a server that is running.
	ErrRunning = errors.New("redistest: server is running")
	// ErrClosed means the server was closed.
	ErrClosed = errors.New("redistest: server is closed")

	// errPortInUse means a port chosen as free was taken before redis-server
	// bound it (other tests on the machine pick ports too): start again.
	errPortInUse = errors.New("redistest: port in use")
)

const (
	// startAttempts is how many times a start tries fresh ports.
	startAttempts = 5
	// killTimeout bounds the wait for a SIGKILLed process to exit.
	killTimeout = 10 * time.Second
	// pollInterval is how often the package polls a process for a state.
	pollInterval = 25 * time.Millisecond
	// logFile is the process's log (its stdout and stderr) in its directory.
	logFile = "redis.log"
)

// Server is one redis-server (or sentinel) process.
type Server struct {
	Addr string // host:port, on 127.0.0.1
	Port int
	Dir  string // its working directory: log, configuration, cluster state

	bin     string
	busPort int                                                   // the cluster bus port
	argv    func(port, busPort int, dir string) ([]string, error) // its arguments

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited and its group is killed

	closeOnce sync.Once
	closed    bool // under mu
}

// StartServer starts a redis-server on a free port of 127.0.0.1 with no
// persistence, then args (later arguments override earlier ones, so args may
// change any default), and waits until it answers PING. ctx bounds the start, not
// the life of the process: it lives until Kill or Close.
func StartServer(ctx context.Context, args ...string) (*Server, error) {
	return start(ctx, ServerPath, func(port, busPort int, dir string) ([]string, error) {
		return append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--cluster-port", strconv.Itoa(busPort),
			"--save", "", "--appendonly", "no",
			"--repl-diskless-sync-delay", "0", // replicas sync at once, not after 5 s
			"--daemonize", "no", "--logfile", "", "--loglevel", "notice",
		}, args...), nil
	})
}

// lookPath finds a binary, or says which is missing with ErrNoRedis.
func lookPath(bin string) (string, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrNoRedis, bin, err)
	}
	return path, nil
}

// start starts bin with the arguments argv gives for free ports and a new
// directory, trying other ports if those were taken meanwhile.
func start(ctx context.Context, bin string, argv func(port, busPort int, dir string) ([]string, error)) (*Server, error) {
	path, err := lookPath(bin)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s := &Server{Dir: dir, bin: path, argv: argv}
	for attempt := 1; ; attempt++ {
		if s.Port, s.busPort, err = freePorts(); err == nil {
			s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
			if err = s.launch(ctx); err == nil {
				return s, nil
			}
		}
		if !errors.Is(err, errPortInUse) || attempt == startAttempts || ctx.Err() != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		// A fresh directory: the failed attempt may have left state in it.
		if err := freshDir(dir); err != nil {
			return nil, err
		}
	}
}

// freshDir empties dir.
func freshDir(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil {
		err = os.Mkdir(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	return nil
}

// freePorts returns two ports of 127.0.0.1 that were free a moment ago: the
// server's and its cluster bus's.
func freePorts() (int, int, error) {
	var ports [2]int
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, fmt.Errorf("redistest: find a free port: %w", err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}

// launch runs the process on s's ports and waits until it answers PING.
func (s *Server) launch(ctx context.Context) error {
	args, err := s.argv(s.Port, s.busPort, s.Dir)
	if err != nil {
		return err
	}
	// A file, not a pipe: Wait must not wait for a forked child (an RDB for a
	// replica) that inherited the pipe.
	log, err := os.OpenFile(filepath.Join(s.Dir, logFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		// The group goes with its leader: a forked child would keep running.
		killGroup(cmd.Process.Pid)
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	if err := s.waitReady(ctx); err != nil {
		s.Kill()
		if strings.Contains(s.Log(), "Address already in use") {
			return fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return err
	}
	return nil
}

// waitReady waits until the process answers PING.
func (s *Server) waitReady(ctx context.Context) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		reply, err := s.Do(pctx, "PING")
		cancel()
		if err == nil && reply == "PONG" {
			return nil
		}
		select {
		case <-s.exitedChan():
			return fmt.Errorf("redistest: %s %s exited at start: %s", s.bin, s.Addr, s.logTail(10))
		case <-ctx.Done():
			return fmt.Errorf("redistest: %s %s did not answer PING (%v): %w; log: %s", s.bin, s.Addr, err, ctx.Err(), s.logTail(10))
		case <-time.After(pollInterval):
		}
	}
}

func (s *Server) exitedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exited
}

// Running reports whether the process is running.
func (s *Server) Running() bool {
	select {
	case <-s.exitedChan():
		return false
	default:
		return true
	}
}

// Kill kills the process (and its process group) with SIGKILL and waits until it
// has exited. Killing a server that is not running does nothing. Its directory
// stays, for Restart.
func (s *Server) Kill() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	cmd.Process.Kill()
	killGroup(cmd.Process.Pid)
	select {
	case <-exited:
		return nil
	case <-time.After(killTimeout):
		return fmt.Errorf("redistest: %s (pid %d) still running %s after SIGKILL", s.Addr, cmd.Process.Pid, killTimeout)
	}
}

// Restart starts a killed server again, on the same port, in the same directory
// (a cluster node keeps its identity, nodes.conf), and waits until it answers
// PING. It fails if the port was taken meanwhile.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("restart %s: %w", s.Addr, ErrClosed)
	}
	if s.Running() {
		return fmt.Errorf("restart %s: %w", s.Addr, ErrRunning)
	}
	return s.launch(ctx)
}

// Close kills the process if it is running and removes its directory. It may be
// called more than once, and concurrently.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.Kill()
		os.RemoveAll(s.Dir)
	})
}

// URL is the server's address as backplane/redis takes it: redis://addr/0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Dial opens a connection to the server, for commands that need one of their own
// (SUBSCRIBE, SSUBSCRIBE, MULTI).
func (s *Server) Dial(ctx context.Context) (*Conn, error) { return Dial(ctx, s.Addr) }

// DoReply sends one command on a connection of its own and returns the reply as
// Conn.Receive does.
func (s *Server) DoReply(ctx context.Context, args ...string) (any, error) {
	c, err := s.Dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Do(ctx, args...)
}

// Do sends one command on a connection of its own and returns the reply as text,
// as redis-cli --raw prints it: array elements one a line, nil as "". An error
// reply is a RedisError.
func (s *Server) Do(ctx context.Context, args ...string) (string, error) {
	v, err := s.DoReply(ctx, args...)
	return flatten(v), err
}

// Log returns what the process has logged (the whole file: redis logs little at
// the default level).
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, logFile))
	return string(b)
}

// logTail returns the last n lines of the log, for error messages.
func (s *Server) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(s.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// String identifies the server in messages.
func (s *Server) String() string { return s.Addr }
