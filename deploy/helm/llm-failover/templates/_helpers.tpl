{{/* The name of every object: the release name, or release-chart when they differ. */}}
{{- define "llm-failover.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels that select the pods. */}}
{{- define "llm-failover.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels of every object. */}}
{{- define "llm-failover.labels" -}}
{{ include "llm-failover.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: ext-proc
app.kubernetes.io/part-of: llm-failover
{{- end -}}

{{- define "llm-failover.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "llm-failover.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Mount points inside the pod. */}}
{{- define "llm-failover.configDir" -}}/etc/llm-failover{{- end -}}
{{- define "llm-failover.tlsDir" -}}/etc/llm-failover/tls{{- end -}}
{{- define "llm-failover.planKeyDir" -}}/etc/llm-failover/plan-key{{- end -}}

{{/*
The llm-failover configuration: .Values.config with the server fields the
chart owns set from the values. Fails with a message naming the value when
the values contradict each other.
*/}}
{{- define "llm-failover.config" -}}
{{- $v := .Values -}}
{{- if not (kindIs "map" $v.config) -}}
{{- fail "config: must be a map holding the llm-failover configuration (docs/configuration.md)" -}}
{{- end -}}
{{- $port := int $v.grpc.port -}}
{{- if or (lt $port 1) (gt $port 65535) -}}
{{- fail (printf "grpc.port: %v is not a port (1..65535)" $v.grpc.port) -}}
{{- end -}}
{{- $admin := int $v.admin.port -}}
{{- if or (lt $admin 1) (gt $admin 65535) (eq $admin $port) -}}
{{- fail (printf "admin.port: %v must be a port (1..65535) other than grpc.port" $v.admin.port) -}}
{{- end -}}
{{- $drain := int $v.drain.timeoutSeconds -}}
{{- if or (lt $drain 0) (gt $drain 600) -}}
{{- fail (printf "drain.timeoutSeconds: %v is outside 0..600" $v.drain.timeoutSeconds) -}}
{{- end -}}
{{- if and $v.grpc.tls.secretName $v.grpc.insecure -}}
{{- fail "grpc.insecure: must be false when grpc.tls.secretName is set" -}}
{{- end -}}
{{- if not (or $v.grpc.tls.secretName $v.grpc.insecure) -}}
{{- fail "grpc: set grpc.tls.secretName (TLS) or grpc.insecure: true (plain gRPC, with the NetworkPolicy or a mesh's mTLS keeping others off the port)" -}}
{{- end -}}
{{- if and (gt (int $v.replicaCount) 1) (not $v.planKey.secretName) -}}
{{- fail "planKey.secretName: replicas must share a plan key; set it, or replicaCount: 1" -}}
{{- end -}}
{{- $c := deepCopy $v.config -}}
{{- $server := dict -}}
{{- if hasKey $c "server" -}}{{- $server = $c.server -}}{{- end -}}
{{- $_ := set $server "grpc_address" (printf ":%d" $port) -}}
{{- $_ := set $server "admin_address" (printf ":%d" $admin) -}}
{{- $_ := set $server "drain_timeout" (printf "%ds" $drain) -}}
{{- if $v.grpc.tls.secretName -}}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" (include "llm-failover.tlsDir" .)) "key_file" (printf "%s/tls.key" (include "llm-failover.tlsDir" .)) -}}
{{- if $v.grpc.tls.mutual -}}
{{- $_ := set $tls "client_ca_file" (printf "%s/ca.crt" (include "llm-failover.tlsDir" .)) -}}
{{- if $v.grpc.tls.clientSANs -}}
{{- $_ := set $tls "client_sans" $v.grpc.tls.clientSANs -}}
{{- end -}}
{{- else if $v.grpc.tls.clientSANs -}}
{{- fail "grpc.tls.clientSANs: needs grpc.tls.mutual: true (the Secret's ca.crt checks client certificates)" -}}
{{- end -}}
{{- $_ := set $server "tls" $tls -}}
{{- $_ := unset $server "insecure_grpc" -}}
{{- else -}}
{{- $_ := unset $server "tls" -}}
{{- $_ := set $server "insecure_grpc" true -}}
{{- end -}}
{{- if $v.planKey.secretName -}}
{{- $_ := set $server "plan_key_file" (printf "%s/plan.key" (include "llm-failover.planKeyDir" .)) -}}
{{- else -}}
{{- $_ := unset $server "plan_key_file" -}}
{{- end -}}
{{- $_ := set $c "server" $server -}}
{{- $envoy := dict -}}
{{- if hasKey $c "envoy" -}}{{- $envoy = $c.envoy -}}{{- end -}}
{{- if not (hasKey $envoy "ext_proc_address") -}}
{{- $_ := set $envoy "ext_proc_address" (printf "%s.%s.svc.cluster.local:%d" (include "llm-failover.fullname" .) .Release.Namespace $port) -}}
{{- end -}}
{{- $_ := set $c "envoy" $envoy -}}
{{- toYaml $c -}}
{{- end -}}
