module pavilion.local/interop

go 1.26.0

require (
	filippo.io/torchwood v0.6.1
	github.com/cloudflare/circl v1.6.5
	golang.org/x/mod v0.43.0
)

require (
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/sync v0.14.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
