package envoymodel

import extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"

type extprocv3ProcessingMode = extprocv3.ProcessingMode

const bufferedMode = extprocv3.ProcessingMode_BUFFERED

const noneMode = extprocv3.ProcessingMode_NONE
