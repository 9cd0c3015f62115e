module extsvc.invalid/bench/go-redis

// Debian bookworm's golang-go is Go 1.19; go-redis v9.7.3 (go 1.18 in its go.mod) is
// the newest v9 release known to build with it, and carries the fix for CVE-2025-29923.
go 1.19

require github.com/redis/go-redis/v9 v9.7.3
