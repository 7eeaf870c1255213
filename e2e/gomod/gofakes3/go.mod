// johannesboyne/gofakes3 v1.2.0 (MIT): an S3-compatible server for the live tests where a real
// S3 endpoint is needed (the Iceberg exporter's S3 FileIO, Thanos' S3 objstore). Not deployed:
// the platform's object storage is its own. MinIO (AGPL) is not used here. Built from the
// module's own main package (cmd/gofakes3); its go.mod has no replace lines.
module dataops.local/tools/gofakes3

go 1.26.0

tool github.com/johannesboyne/gofakes3/cmd/gofakes3

require (
	github.com/johannesboyne/gofakes3 v1.2.0 // indirect
	github.com/ryszard/goskiplist v0.0.0-20150312221310-2dfbae5fcf46 // indirect
	github.com/spf13/afero v1.2.1 // indirect
	go.etcd.io/bbolt v1.3.5 // indirect
	go.shabbyrobe.org/gocovmerge v0.0.0-20230507111327-fa4f82cfbf4d // indirect
	golang.org/x/sys v0.7.0 // indirect
	golang.org/x/text v0.9.0 // indirect
	golang.org/x/tools v0.8.0 // indirect
	gopkg.in/check.v1 v1.0.0-20201130134442-10cb98267c6c // indirect
	gopkg.in/mgo.v2 v2.0.0-20180705113604-9856a29383ce // indirect
)
