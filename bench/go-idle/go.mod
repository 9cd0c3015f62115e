module extsvc.invalid/bench/go-idle

// The standard library only: builds offline with Debian's golang-go (Go 1.19).
go 1.19
