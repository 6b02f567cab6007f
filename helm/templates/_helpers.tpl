{{/* Names: the release's full name, and <fullname>-<service> for each component. */}}
{{- define "iotmon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "iotmon.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* (dict "root" $ "name" "device") → <fullname>-device */}}
{{- define "iotmon.componentName" -}}
{{- printf "%s-%s" (include "iotmon.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "iotmon.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "iotmon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: {{ include "iotmon.fullname" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "name" "device") */}}
{{- define "iotmon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "iotmon.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Every pod of the release carries these: the NetworkPolicy lets them reach gRPC ports. */}}
{{- define "iotmon.peerLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: {{ include "iotmon.fullname" . }}
{{- end -}}

{{- define "iotmon.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- if .Values.image.digest -}}{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "iotmon.serviceAccountName" -}}
{{- default (include "iotmon.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "iotmon.secretName" -}}
{{- default (include "iotmon.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{/*
Deep merge returning YAML: (dict "base" $defaults "over" $values). Unlike sprig's merge functions it keeps
a `false` or 0 from `over` (mergo treats them as empty and would keep the default).
*/}}
{{- define "iotmon.deepMerge" -}}
{{- $out := deepCopy (.base | default dict) -}}
{{- range $key, $value := (.over | default dict) -}}
{{- $current := get $out $key -}}
{{- if and (kindIs "map" $value) (kindIs "map" $current) -}}
{{- $_ := set $out $key (include "iotmon.deepMerge" (dict "base" $current "over" $value) | fromYaml) -}}
{{- else -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* A service's settings merged over serviceDefaults: (dict "root" $ "service" $svc) */}}
{{- define "iotmon.serviceValues" -}}
{{- include "iotmon.deepMerge" (dict "base" .root.Values.serviceDefaults "over" .service) -}}
{{- end -}}

{{/*
The container env that the enabled backends give to the pods of some services:
(dict "root" $ "uses" (list "telemetry") "env" $ownEnv). "*" entries come first, then each used service's,
then the pod's own env; plain values win over Secret references of the same name.
*/}}
{{- define "iotmon.env" -}}
{{- $root := .root -}}
{{- $plain := dict -}}
{{- $secret := dict -}}
{{- $targets := concat (list "*") .uses -}}
{{- range $backendName, $backend := $root.Values.backends -}}
{{- if $backend.enabled -}}
{{- range $target := $targets -}}
{{- range $name, $value := (get ($backend.env | default dict) $target | default dict) -}}
{{- $_ := set $plain $name $value -}}
{{- end -}}
{{- range $name, $key := (get ($backend.secretEnv | default dict) $target | default dict) -}}
{{- $_ := set $secret $name $key -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $name, $value := (.env | default dict) -}}
{{- $_ := set $plain $name $value -}}
{{- end -}}
{{- range $name := keys $plain | sortAlpha }}
- name: {{ $name }}
  value: {{ get $plain $name | toString | quote }}
{{- end -}}
{{- range $name := keys $secret | sortAlpha -}}
{{- if not (hasKey $plain $name) }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "iotmon.secretName" $root }}
      key: {{ get $secret $name }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Restart pods when the settings they read change. */}}
{{- define "iotmon.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/* Volumes every pod has: a writable /tmp and data directory (the root filesystem is read-only), and the Secret's files. */}}
{{- define "iotmon.volumes" -}}
- name: tmp
  emptyDir: {}
- name: data
  {{- if and .dataClaim }}
  persistentVolumeClaim:
    claimName: {{ .dataClaim }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- if .secretFiles }}
- name: secret-files
  secret:
    secretName: {{ include "iotmon.secretName" .root }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "iotmon.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: {{ .root.Values.config.IOTMON_DATA_DIR | default "/data" }}
{{- if .secretFiles }}
- name: secret-files
  mountPath: {{ .root.Values.secret.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{/*
A pod's own env with the Prometheus exporter's settings added when observability.prometheus is enabled
(the pod's own entries win): (dict "root" $ "env" $ownEnv) → YAML of the merged dict.
*/}}
{{- define "iotmon.metricsEnv" -}}
{{- $env := deepCopy (.env | default dict) -}}
{{- $prometheus := .root.Values.observability.prometheus -}}
{{- if $prometheus.enabled -}}
{{- $_ := set $env "OTEL_METRICS_EXPORTER" (get $env "OTEL_METRICS_EXPORTER" | default "prometheus") -}}
{{- $_ := set $env "OTEL_EXPORTER_PROMETHEUS_HOST" (get $env "OTEL_EXPORTER_PROMETHEUS_HOST" | default "0.0.0.0") -}}
{{- $_ := set $env "OTEL_EXPORTER_PROMETHEUS_PORT" (get $env "OTEL_EXPORTER_PROMETHEUS_PORT" | default (toString $prometheus.port)) -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* The prometheus.io/* pod annotations, when metrics are on and annotations wanted. */}}
{{- define "iotmon.metricsAnnotations" -}}
{{- $prometheus := .Values.observability.prometheus -}}
{{- if and $prometheus.enabled $prometheus.annotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ $prometheus.port | toString | quote }}
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}

{{/* The container port the metrics are scraped on, when metrics are on. */}}
{{- define "iotmon.metricsPort" -}}
{{- if .Values.observability.prometheus.enabled -}}
- name: metrics
  containerPort: {{ .Values.observability.prometheus.port }}
  protocol: TCP
{{- end -}}
{{- end -}}
