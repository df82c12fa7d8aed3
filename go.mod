module github.com/weirstream/weir

go 1.26.8

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/twmb/murmur3 v1.2.2 // indirect
)
