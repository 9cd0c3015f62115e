// Command go-idle measures what Go's net/http costs in memory per idle pooled HTTPS
// connection, for extsvc-bench's `idle_connections` scenario, as the bench's own
// `idle-child` does for the Rust clients.
//
// Usage: go-idle URL CA_FILE N. It sends one request (its connection stays idle), reads
// its RSS and open sockets, sends N requests at once and holds every response until all
// have arrived (so each has a connection of its own), reads the bodies so the
// connections go idle into the pool, and prints one JSON line:
// {"rss_before":B,"rss_after":B,"sockets_before":N,"sockets_after":N}.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fail(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := s.Text(); strings.HasPrefix(line, "VmRSS:") {
			rest := strings.TrimPrefix(line, "VmRSS:")
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				fail(err)
			}
			return kb * 1024
		}
	}
	fail(fmt.Errorf("no VmRSS in /proc/self/status"))
	return 0
}

func sockets() uint64 {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		fail(err)
	}
	var n uint64
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// wave is how many connections are opened at once (extsvc-bench's WAVE): all of them
// today; a wave's handshakes wait in nginx's listen backlog (511).
const wave = 1000

func fail(err error) {
	fmt.Fprintln(os.Stderr, "go-idle:", err)
	os.Exit(1)
}

// settle lets connections come back to the pool and the garbage go.
func settle() {
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: go-idle URL CA_FILE N")
		os.Exit(2)
	}
	url, caFile := os.Args[1], os.Args[2]
	n, err := strconv.Atoi(os.Args[3])
	if err != nil || n < 1 {
		fail(fmt.Errorf("N must be a positive number: %q", os.Args[3]))
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		fail(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fail(fmt.Errorf("no certificate in %s", caFile))
	}
	// HTTP/1.1 only, a pool as large as the load, as the Rust clients are configured.
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		MaxIdleConns:        n + 1,
		MaxIdleConnsPerHost: n + 1,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	get := func() *http.Response {
		resp, err := client.Get(url)
		if err != nil {
			fail(err)
		}
		return resp
	}
	first := get()
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	settle()
	rssBefore, socketsBefore := rss(), sockets()

	var done sync.WaitGroup
	done.Add(n)
	release := make(chan struct{})
	// In waves of `wave`: the next wave starts once this one holds its responses.
	for start := 0; start < n; start += wave {
		var arrived sync.WaitGroup
		for i := start; i < n && i < start+wave; i++ {
			arrived.Add(1)
			go func() {
				defer done.Done()
				resp := get()
				arrived.Done()
				<-release
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		arrived.Wait()
	}
	close(release)
	done.Wait()
	settle()
	out, _ := json.Marshal(map[string]uint64{
		"rss_before":     rssBefore,
		"rss_after":      rss(),
		"sockets_before": socketsBefore,
		"sockets_after":  sockets(),
	})
	fmt.Println(string(out))
}
