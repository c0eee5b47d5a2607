module github.com/llm-failover/llm-failover/tools/envoyapi/schema

go 1.26.8

require (
	google.golang.org/protobuf v1.36.11
	sigs.k8s.io/yaml v1.6.0
)

require go.yaml.in/yaml/v2 v2.4.2 // indirect
